-- record_trade: write one trade, idempotently; announce its close exactly once.
--
-- KEYS[1] trade data      bh:{bot}:trade_data   (hash: trade id -> record JSON)
-- KEYS[2] trade index     bh:{bot}:trades       (sorted set: id by open time)
-- KEYS[3] events          bh:{bot}:events       (stream)
-- ARGV[1] trade id
-- ARGV[2] open time, ms (index score)
-- ARGV[3] '1' when the trade is closed, else '0'
-- ARGV[4] the trade record, JSON (deterministic: the same trade is the same text)
-- ARGV[5] event payload (JSON) for the close
-- ARGV[6] events MINID (ms)
--
-- A trade recorded again unchanged writes nothing at all (no append-only-file growth from
-- reconciliations). Otherwise the record is replaced, and its close is announced when the
-- stored record was not closed yet (or there was none): once per trade, however often it
-- is recorded closed.
--
-- Returns 2 when this call recorded the close, 1 for a new open trade, 0 otherwise.
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if prev == ARGV[4] then
  return 0
end
local was_closed = false
if prev then
  was_closed = cjson.decode(prev)['is_open'] == false
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if ARGV[3] == '1' and not was_closed then
  redis.call('XADD', KEYS[3], 'MINID', '~', ARGV[6], '*', 'event', 'trade_closed', 'data', ARGV[5])
  return 2
end
if not prev then
  return 1
end
return 0
