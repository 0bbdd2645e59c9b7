-- restore_records: put back exported trades or orders that are missing.
--
-- KEYS[1] record data     bh:{bot}:trade_data or bh:{bot}:order_data (hash: id -> JSON)
-- KEYS[2] its index       bh:{bot}:trades or bh:{bot}:orders (sorted set)
-- ARGV[3i+1] a record's id (hash field and index member)
-- ARGV[3i+2] its index score, ms (open time or fill time)
-- ARGV[3i+3] the record, JSON
--
-- A record already present is left exactly as it is (HSETNX), index entry included: an
-- import never overwrites memory (an older export cannot reopen a closed trade), and
-- importing twice changes nothing. Unlike record_trade/record_order it announces
-- nothing: the export carries the original announcements on the event stream, with
-- their ids. Many records per call, so a large import is a few calls, not one per record.
--
-- Returns how many records were written.
local written = 0
for i = 1, #ARGV, 3 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 2]) == 1 then
    redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[i])
    written = written + 1
  end
end
return written
