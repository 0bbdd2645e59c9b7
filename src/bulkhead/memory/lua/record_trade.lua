-- record_trade: write one trade, idempotently; announce its close exactly once.
--
-- KEYS[1] trade hash      bh:{bot}:trade:<id>   (hash)
-- KEYS[2] trade index     bh:{bot}:trades       (sorted set: id by open time)
-- KEYS[3] events          bh:{bot}:events       (stream)
-- ARGV[1] trade id
-- ARGV[2] open time, ms (index score)
-- ARGV[3] '1' when the trade is closed, else '0'
-- ARGV[4] event payload (JSON) for the close
-- ARGV[5] events MINID (ms)
-- ARGV[6..] field, value, ... of the trade hash
--
-- Returns 2 when this call recorded the close, 1 for a new open trade, 0 otherwise.
local was_closed = redis.call('HGET', KEYS[1], 'is_open') == '0'
local existed = redis.call('EXISTS', KEYS[1])
local fields = {}
for i = 6, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if ARGV[3] == '1' and not was_closed then
  redis.call('XADD', KEYS[3], 'MINID', '~', ARGV[5], '*', 'event', 'trade_closed', 'data', ARGV[4])
  return 2
end
if existed == 0 then
  return 1
end
return 0
