-- Sliding window check-and-update; a port of ratelimit.sliding_window_hit
-- (same floating-point operations in the same order).
-- KEYS[1]: the limit's hash {i = current window index, p = previous count, c = current count}
-- ARGV: now ('' = the server's TIME; preamble.lua makes it `now`), ttl slack (ms), limit, window (s), cost
-- Returns {allowed (0/1), remaining, reset as '%.17g'}.
local slack = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local w = tonumber(ARGV[4])
local cost = tonumber(ARGV[5])

local index = math.floor(now / w)
local prev, cur = 0, 0
local s = redis.call('HMGET', KEYS[1], 'i', 'p', 'c')
if s[1] then
  local si = tonumber(s[1])
  if si == index then
    prev, cur = tonumber(s[2]), tonumber(s[3])
  elseif si == index - 1 then
    prev = tonumber(s[3])
  end
end
local start = index * w
local weight = 1.0 - (now - start) / w
local allowed = 0
if prev * weight + cur + cost <= limit then
  cur = cur + cost
  allowed = 1
end
local estimate = prev * weight + cur
local remaining = math.floor(limit - estimate)
if remaining < 0 then remaining = 0 end
local reset
if estimate + 1 <= limit then
  reset = start + w - now
elseif cur + 1 <= limit and prev > 0 then
  reset = start + w * (1.0 - (limit - 1 - cur) / prev) - now
else
  reset = start + w + w * (1.0 - (limit - 1) / cur) - now
end
if reset < 0 then reset = 0 end
local expiry = (index + 2) * w
redis.call('HSET', KEYS[1], 'i', string.format('%.17g', index),
  'p', string.format('%d', prev), 'c', string.format('%d', cur))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((expiry - now) * 1000)) + slack)
return {allowed, remaining, string.format('%.17g', reset)}
