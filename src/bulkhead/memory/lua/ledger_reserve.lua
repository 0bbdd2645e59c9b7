-- ledger_reserve: reserve the worst-case cost of one buy order, if it fits under the cap.
--
-- KEYS[1] totals        bhgw:{bot}:ledger            (hash: committed, realized; int 1e-8 stake)
-- KEYS[2] reservations  bhgw:{bot}:ledger:orders     (hash: clientOid -> reserved cost)
-- ARGV[1] clientOid
-- ARGV[2] worst-case cost (int, 1e-8 stake, > 0)
-- ARGV[3] budget (int, 1e-8 stake)
-- ARGV[4] '1' to re-risk realized profits (compound), '0' otherwise
-- KEYS[3] state         bhgw:{bot}:state             (optional; hash: state, reason)
-- ARGV[5] '1': a new order, whose clientOid must not be held yet (optional)
--
-- cap = budget + realized when compounding, else budget + min(realized, 0).
-- All amounts stay below 2^53, so Lua's doubles hold them exactly.
-- A clientOid already reserved is allowed again without reserving twice (a retried request),
-- unless ARGV[5] says the order is new: then it is refused as in use.
--
-- Returns {1, cap, committed after} when reserved, {0, cap, committed} when refused,
-- {2, cap, committed} when a new order's clientOid is already held, {3, state, reason} when
-- the trading state (KEYS[3]) is anything but ACTIVE (a state never set is ACTIVE): the
-- state is read here, in the same round trip as the reservation, not in one of its own.
if KEYS[3] then
  local state = redis.call('HGET', KEYS[3], 'state')
  if not state and redis.call('EXISTS', KEYS[3]) == 1 then
    state = ''  -- a state hash nobody wrote whole: not ACTIVE (TradingStates.get agrees)
  end
  if state and state ~= 'ACTIVE' then
    return {3, state, redis.call('HGET', KEYS[3], 'reason') or ''}
  end
end
local realized = tonumber(redis.call('HGET', KEYS[1], 'realized') or '0')
local committed = tonumber(redis.call('HGET', KEYS[1], 'committed') or '0')
local cap = tonumber(ARGV[3])
if ARGV[4] == '1' or realized < 0 then
  cap = cap + realized
end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  local held = 1
  if ARGV[5] == '1' then held = 2 end
  return {held, string.format('%d', cap), string.format('%d', committed)}
end
local cost = tonumber(ARGV[2])
if committed + cost > cap then
  return {0, string.format('%d', cap), string.format('%d', committed)}
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local after = redis.call('HINCRBY', KEYS[1], 'committed', ARGV[2])
return {1, string.format('%d', cap), string.format('%d', after)}
