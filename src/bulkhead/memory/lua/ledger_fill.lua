-- ledger_fill: a buy order filled (partly or fully): its cost moves from the reservation
-- to the position's cost basis, fees included.
--
-- KEYS[1] totals        bhgw:{bot}:ledger            (hash: committed, realized; int 1e-8 stake)
-- KEYS[2] reservations  bhgw:{bot}:ledger:orders     (hash: clientOid -> reserved cost)
-- KEYS[3] positions     bhgw:{bot}:ledger:positions  (hash: <symbol>:qty, <symbol>:cost)
-- KEYS[4] lost answers  bhgw:{bot}:ledger:lost       (set of clientOids)
-- ARGV[1] clientOid
-- ARGV[2] symbol
-- ARGV[3] filled quantity (int, 1e-8 base)
-- ARGV[4] actual cost of this fill, fee included (int, 1e-8 stake)
-- KEYS[5] counted fills bhgw:{bot}:ledger:fills      (set of trade ids)
-- ARGV[5] '1' when the order is done (fully filled or closed): the rest is released
-- ARGV[6] the fill's trade id ('' when unknown): a fill already counted changes nothing
--
-- The reservation shrinks by the actual cost (never below zero); since a fill costs at most
-- its worst case, what stays reserved still covers the unfilled part.
-- A fill of an order the ledger never reserved (placed before it, or lost with Redis) is
-- still counted: it is a fact, and the cap checks the next reservation against it.
--
-- Returns {1, committed after} when counted, {0, committed} when already counted.
if ARGV[6] ~= '' and redis.call('SADD', KEYS[5], ARGV[6]) == 0 then
  return {0, redis.call('HGET', KEYS[1], 'committed') or '0'}
end
local left = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local cost = tonumber(ARGV[4])
local release = math.min(left, cost)
if ARGV[5] == '1' then
  release = left
  redis.call('HDEL', KEYS[2], ARGV[1])
elseif redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[2], ARGV[1], string.format('%d', left - release))
end
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('HINCRBY', KEYS[3], ARGV[2] .. ':qty', ARGV[3])
redis.call('HINCRBY', KEYS[3], ARGV[2] .. ':cost', ARGV[4])
local after = redis.call('HINCRBY', KEYS[1], 'committed', string.format('%d', cost - release))
return {1, string.format('%d', after)}
