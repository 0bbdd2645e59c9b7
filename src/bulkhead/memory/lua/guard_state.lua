-- guard_state: the bot's risk guard asks the gateway for a trading state; it may only
-- tighten, or lift what it set itself.
--
-- KEYS[1] state      bhgw:{bot}:state      (hash: state, reason, since, by)
-- KEYS[2] decisions  bhgw:{bot}:decisions  (stream of gateway decisions)
-- ARGV[1] the state asked for: ACTIVE, REDUCING or HALTED
-- ARGV[2] reason (the guard's reason code and numbers)
-- ARGV[3] now, ms
-- ARGV[4] decisions kept (MAXLEN ~)
--
-- HALTED is never lifted here (only `bulkhead resume`). ACTIVE is granted only over a
-- REDUCING whose `by` is 'guard' (never over the operator's or the gateway's own).
-- REDUCING is granted over ACTIVE; HALTED over anything.
-- Returns {applied (1/0), state after, by after}.
local current = redis.call('HGET', KEYS[1], 'state') or 'ACTIVE'
local by = redis.call('HGET', KEYS[1], 'by') or ''
local wanted = ARGV[1]
local grant = false
if current == 'HALTED' then
  grant = false
elseif wanted == 'HALTED' then
  grant = true
elseif wanted == 'REDUCING' then
  grant = current == 'ACTIVE'
elseif wanted == 'ACTIVE' then
  grant = current == 'REDUCING' and by == 'guard'
end
if not grant then
  return {0, current, by}
end
redis.call('HSET', KEYS[1], 'state', wanted, 'reason', ARGV[2], 'since', ARGV[3], 'by', 'guard')
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*',
  'kind', 'state', 'decision', wanted, 'reason', ARGV[2], 'by', 'guard')
return {1, wanted, 'guard'}
