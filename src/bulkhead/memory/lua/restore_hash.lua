-- restore_hash: put back one exported insight (a hash of its own) if it is missing.
-- (Trades and orders, fields of one hash per class, go through restore_records.)
--
-- KEYS[1] the insight     bh:{bot}:insight:<id>   (hash with TTL)
-- KEYS[2] its index       bh:{bot}:insights       (sorted set: id by creation ms)
-- ARGV[1] index member (the insight's id)
-- ARGV[2] index score, ms (creation time)
-- ARGV[3] absolute expiry, ms, or '' for a record that never expires
-- ARGV[4..] field, value, field, value ... of the hash
--
-- An insight already present is left exactly as it is: an import never overwrites memory,
-- and importing twice changes nothing.
--
-- Returns 1 when the insight was written, 0 when it was already there.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local fields = {}
for i = 4, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], unpack(fields))
if ARGV[3] ~= '' then
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
