-- restore_hash: put back one exported record (trade, order or insight) if it is missing.
--
-- KEYS[1] the record hash bh:{bot}:trade:<id>, bh:{bot}:order:<id> or bh:{bot}:insight:<id>
-- KEYS[2] its index       bh:{bot}:trades, bh:{bot}:orders or bh:{bot}:insights (sorted set)
-- ARGV[1] index member (the record's id)
-- ARGV[2] index score, ms (open time, fill time or creation time)
-- ARGV[3] absolute expiry, ms, or '' for a record that never expires
-- ARGV[4..] field, value, field, value ... of the hash
--
-- A record already present is left exactly as it is: an import never overwrites memory
-- (an older export cannot reopen a closed trade), and importing twice changes nothing.
-- Unlike record_trade/record_order it announces nothing: the export carries the original
-- announcements on the event stream, with their ids.
--
-- Returns 1 when the record was written, 0 when it was already there.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local fields = {}
for i = 4, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], unpack(fields))
if ARGV[3] ~= '' then
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
