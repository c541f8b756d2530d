-- Fixed window check-and-update; a port of ratelimit.fixed_window_hit.
-- KEYS[1]: the limit's hash {i = window index, c = count}
-- ARGV: now ('' = the server's TIME; preamble.lua makes it `now`), ttl slack (ms), limit, window (s), cost
-- Returns {allowed (0/1), remaining, reset as '%.17g'}.
local slack = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local w = tonumber(ARGV[4])
local cost = tonumber(ARGV[5])

local index = math.floor(now / w)
local s = redis.call('HMGET', KEYS[1], 'i', 'c')
local count = 0
if s[1] and tonumber(s[1]) == index then
  count = tonumber(s[2])
end
local allowed = 0
if count + cost <= limit then
  count = count + cost
  allowed = 1
end
local expiry = (index + 1) * w
redis.call('HSET', KEYS[1], 'i', string.format('%.17g', index), 'c', string.format('%d', count))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((expiry - now) * 1000)) + slack)
local reset = expiry - now
if reset < 0 then reset = 0 end
return {allowed, limit - count, string.format('%.17g', reset)}
