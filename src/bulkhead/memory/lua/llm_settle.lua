-- Settle a reservation to what the call really cost, and say which alerts it crossed.
-- KEYS[1]: open reservations (hash)
-- ARGV: id, cost (1e-9 EUR), input_tokens, output_tokens, cap1..cap4 (in the reservation's
--       key order), then the alert levels in percent, ascending (e.g. 50 80 100)
-- Returns {} when the reservation is unknown (already settled, or folded as stale), else
-- {key, level, spent, cap, ...} for each cap whose alert level rose.
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return {}
end
local r = cjson.decode(raw)
local cost = tonumber(ARGV[2])
local crossed = {}
for index, key in ipairs(r.keys) do
  redis.call('HINCRBY', key, 'reserved', -r.amount)
  local spent = redis.call('HINCRBY', key, 'spent', cost)
  redis.call('HINCRBY', key, 'calls', 1)
  redis.call('HINCRBY', key, 'input_tokens', tonumber(ARGV[3]))
  redis.call('HINCRBY', key, 'output_tokens', tonumber(ARGV[4]))
  local cap = tonumber(ARGV[4 + index])
  local alerted = tonumber(redis.call('HGET', key, 'alerted') or '0')
  local reached = 0
  for level = 9, #ARGV do
    local percent = tonumber(ARGV[level])
    if cap > 0 and spent * 100 >= cap * percent then
      reached = percent
    end
  end
  if reached > alerted then
    redis.call('HSET', key, 'alerted', reached)
    table.insert(crossed, key)
    table.insert(crossed, reached)
    table.insert(crossed, tostring(spent))
    table.insert(crossed, tostring(cap))
  end
end
redis.call('HDEL', KEYS[1], ARGV[1])
return crossed
