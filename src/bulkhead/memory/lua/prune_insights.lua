-- prune_insights: drop index entries of insights whose hash has expired.
--
-- KEYS[1] insight index   bh:{bot}:insights       (sorted set: id by creation ms)
-- KEYS[2..] insight hash  bh:{bot}:insight:<id>   (hash with TTL), one per ARGV
-- ARGV[i] the insight id whose hash is KEYS[i + 1]
--
-- Checked and removed in one step, so an insight restored meanwhile keeps its entry.
-- Returns how many index entries were removed.
local removed = 0
for i = 1, #ARGV do
  if redis.call('EXISTS', KEYS[i + 1]) == 0 then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
