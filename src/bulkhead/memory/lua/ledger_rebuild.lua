-- ledger_rebuild: replace the whole ledger with what the exchange's state says.
--
-- KEYS[1] totals        bhgw:{bot}:ledger            (hash: committed, realized; int 1e-8 stake)
-- KEYS[2] reservations  bhgw:{bot}:ledger:orders     (hash: clientOid -> reserved cost)
-- KEYS[3] positions     bhgw:{bot}:ledger:positions  (hash: <symbol>:qty, <symbol>:cost)
-- KEYS[4] lost answers  bhgw:{bot}:ledger:lost       (set of clientOids)
-- KEYS[5] counted fills bhgw:{bot}:ledger:fills      (set of trade ids)
-- ARGV[1] realized PnL (int, 1e-8 stake)
-- ARGV[2] committed (int, 1e-8 stake: the reservations plus the cost bases)
-- ARGV[3] n, the number of reservations
-- ARGV[4] m, the number of position (field, value) pairs
-- ARGV[5 .. 4+2n]         clientOid, reserved cost, ...
-- ARGV[5+2n .. 4+2n+2m]   position field, value, ... (<symbol>:qty, <symbol>:cost)
-- ARGV[5+2n+2m ..]        trade ids of the fills the rebuild counted
--
-- One script, so no reservation can slip in between the wipe and the rewrite.
-- Returns 1.
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('HSET', KEYS[1], 'realized', ARGV[1], 'committed', ARGV[2])
local n = tonumber(ARGV[3])
local m = tonumber(ARGV[4])
local i = 5
while i < 5 + 2 * n do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i < 5 + 2 * n + 2 * m do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  redis.call('SADD', KEYS[5], ARGV[i])
  i = i + 1
end
return 1
