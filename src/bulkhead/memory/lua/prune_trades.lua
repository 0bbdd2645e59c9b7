-- prune_trades: remove closed trades that closed before a cutoff, with their orders.
--
-- KEYS[1] trade index     bh:{bot}:trades         (sorted set: id by open time)
-- KEYS[2] order index     bh:{bot}:orders         (sorted set: id by fill time)
-- KEYS[3..2+n] trade hash bh:{bot}:trade:<id>     (hash), one per trade id in ARGV
-- KEYS[3+n..] order hash  bh:{bot}:order:<id>     (hash), one per order id in ARGV
-- ARGV[1] cutoff, ms: a trade is removed only if closed and its close time is below it
-- ARGV[2] n, the number of trade ids that follow
-- ARGV[3..2+n] trade ids (candidates; each is checked again here)
-- ARGV[3+n..] order ids of those trades (an order goes only with its removed trade)
--
-- Returns {trades removed, orders removed}.
local cutoff = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local gone = {}
local trades = 0
for i = 1, n do
  local key = KEYS[2 + i]
  local state = redis.call('HMGET', key, 'is_open', 'close_time_ms')
  local closed_ms = tonumber(state[2])
  if state[1] == '0' and closed_ms ~= nil and closed_ms < cutoff then
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], ARGV[2 + i])
    gone[ARGV[2 + i]] = true
    trades = trades + 1
  end
end
local orders = 0
for j = 3 + n, #ARGV do
  local key = KEYS[j]
  local trade_id = redis.call('HGET', key, 'trade_id')
  if trade_id and gone[trade_id] then
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[2], ARGV[j])
    orders = orders + 1
  end
end
return {trades, orders}
