-- record_order: write one filled order, idempotently; announce it once.
--
-- KEYS[1] order data      bh:{bot}:order_data   (hash: order id -> record JSON)
-- KEYS[2] order index     bh:{bot}:orders       (sorted set: id by fill time)
-- KEYS[3] events          bh:{bot}:events       (stream)
-- ARGV[1] order id
-- ARGV[2] fill time, ms (index score)
-- ARGV[3] the order record, JSON (deterministic: the same order is the same text)
-- ARGV[4] event payload (JSON) for the first recording
-- ARGV[5] events MINID (ms): older events are trimmed on the way
--
-- An order recorded again unchanged writes nothing at all: reconciliations re-record
-- orders, and an HSET is logged to the append-only file even when it changes nothing.
-- A changed order gets its new value and index score, without a second announcement.
--
-- Returns 1 when the order was new, 0 when it was already recorded.
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if prev == ARGV[3] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if prev then
  return 0
end
redis.call('XADD', KEYS[3], 'MINID', '~', ARGV[5], '*', 'event', 'order_recorded', 'data', ARGV[4])
return 1
