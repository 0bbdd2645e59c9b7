-- prune_trades: remove closed trades that closed before a cutoff, with their orders.
--
-- KEYS[1] trade index     bh:{bot}:trades         (sorted set: id by open time)
-- KEYS[2] order index     bh:{bot}:orders         (sorted set: id by fill time)
-- KEYS[3] trade data      bh:{bot}:trade_data     (hash: trade id -> record JSON)
-- KEYS[4] order data      bh:{bot}:order_data     (hash: order id -> record JSON)
-- ARGV[1] cutoff, ms: a trade is removed only if closed and its close time is below it
-- ARGV[2] n, the number of trade ids that follow
-- ARGV[3..2+n] trade ids (candidates; each is checked again here)
-- ARGV[3+n..] order ids of those trades (an order goes only with its removed trade)
--
-- Returns {trades removed, orders removed}.
local cutoff = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
-- removed trade ids as numbers: an order's JSON holds its trade id as a number
local gone = {}
local trades = 0
for i = 3, 2 + n do
  local raw = redis.call('HGET', KEYS[3], ARGV[i])
  if raw then
    local trade = cjson.decode(raw)
    -- a JSON null decodes to cjson.null, which tonumber turns into nil
    local closed_ms = tonumber(trade['close_time_ms'])
    if trade['is_open'] == false and closed_ms ~= nil and closed_ms < cutoff then
      redis.call('HDEL', KEYS[3], ARGV[i])
      redis.call('ZREM', KEYS[1], ARGV[i])
      gone[tonumber(ARGV[i])] = true
      trades = trades + 1
    end
  end
end
local orders = 0
for j = 3 + n, #ARGV do
  local raw = redis.call('HGET', KEYS[4], ARGV[j])
  if raw and gone[cjson.decode(raw)['trade_id']] then
    redis.call('HDEL', KEYS[4], ARGV[j])
    redis.call('ZREM', KEYS[2], ARGV[j])
    orders = orders + 1
  end
end
return {trades, orders}
