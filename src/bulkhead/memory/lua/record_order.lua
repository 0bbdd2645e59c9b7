-- record_order: write one filled order, idempotently; announce it once.
--
-- KEYS[1] order hash      bh:{bot}:order:<id>   (hash)
-- KEYS[2] order index     bh:{bot}:orders       (sorted set: id by fill time)
-- KEYS[3] events          bh:{bot}:events       (stream)
-- ARGV[1] order id
-- ARGV[2] fill time, ms (index score)
-- ARGV[3] event payload (JSON) for the first recording
-- ARGV[4] events MINID (ms): older events are trimmed on the way
-- ARGV[5..] field, value, field, value ... of the order hash
--
-- Returns 1 when the order was new, 0 when it was already recorded (values refreshed).
local existed = redis.call('EXISTS', KEYS[1])
local fields = {}
for i = 5, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if existed == 1 then
  return 0
end
redis.call('XADD', KEYS[3], 'MINID', '~', ARGV[4], '*', 'event', 'order_recorded', 'data', ARGV[3])
return 1
