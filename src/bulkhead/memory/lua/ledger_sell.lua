-- ledger_sell: a sell filled: the position's cost basis shrinks proportionally and the
-- PnL is realized. The caller computed the numbers from the position it read; they apply
-- only if the position is still exactly that (compare and set), else the caller retries.
--
-- KEYS[1] totals        bhgw:{bot}:ledger            (hash: committed, realized; int 1e-8 stake)
-- KEYS[2] positions     bhgw:{bot}:ledger:positions  (hash: <symbol>:qty, <symbol>:cost)
-- ARGV[1] symbol
-- ARGV[2] expected held quantity (int, 1e-8 base; '0' when none)
-- ARGV[3] expected cost basis (int, 1e-8 stake; '0' when none)
-- ARGV[4] minus the quantity sold out of the position (int, 1e-8 base, <= 0)
-- ARGV[5] minus the cost basis released (int, 1e-8 stake, <= 0)
-- KEYS[3] counted fills bhgw:{bot}:ledger:fills      (set of trade ids)
-- ARGV[6] realized PnL (int, 1e-8 stake, negative for a loss)
-- ARGV[7] the fill's trade id ('' when unknown): a fill already counted changes nothing
--
-- Returns 1 when applied, 0 when the position changed meanwhile, 2 when already counted.
if ARGV[7] ~= '' and redis.call('SISMEMBER', KEYS[3], ARGV[7]) == 1 then
  return 2
end
local qty_field = ARGV[1] .. ':qty'
local cost_field = ARGV[1] .. ':cost'
local qty = redis.call('HGET', KEYS[2], qty_field) or '0'
local cost = redis.call('HGET', KEYS[2], cost_field) or '0'
if qty ~= ARGV[2] or cost ~= ARGV[3] then
  return 0
end
if ARGV[7] ~= '' then
  redis.call('SADD', KEYS[3], ARGV[7])
end
local left = redis.call('HINCRBY', KEYS[2], qty_field, ARGV[4])
redis.call('HINCRBY', KEYS[2], cost_field, ARGV[5])
if left <= 0 then
  redis.call('HDEL', KEYS[2], qty_field, cost_field)
end
redis.call('HINCRBY', KEYS[1], 'committed', ARGV[5])
redis.call('HINCRBY', KEYS[1], 'realized', ARGV[6])
return 1
