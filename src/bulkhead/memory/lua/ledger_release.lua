-- ledger_release: release what is left of one buy reservation (cancel, or a refused order).
--
-- KEYS[1] totals        bhgw:{bot}:ledger            (hash: committed, realized; int 1e-8 stake)
-- KEYS[2] reservations  bhgw:{bot}:ledger:orders     (hash: clientOid -> reserved cost)
-- KEYS[3] lost answers  bhgw:{bot}:ledger:lost       (set of clientOids)
-- ARGV[1] clientOid
--
-- Releasing an unknown (or already released) clientOid changes nothing.
--
-- Returns the released amount (int, 1e-8 stake), as a string.
local left = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
if not left then
  return '0'
end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'committed', string.format('%d', -tonumber(left)))
return left
