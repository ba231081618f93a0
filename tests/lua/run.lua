-- run.lua -- runs the Lua tests: ./tycho tests/lua/run.lua [pattern]
-- (or lua5.4 tests/lua/run.lua from the repository root, with tycho.so built).
-- Each tests/lua/test_*.lua returns a table name -> function; a test passes
-- when its function returns without error. pattern (a Lua pattern) selects
-- tests whose "file:name" matches. Ends with "N passed, N failed".
package.cpath = "./?.so;" .. package.cpath
package.path = "tests/lua/?.lua;" .. package.path

local pattern = arg and arg[1]

local function test_files()
   local files = {}
   local p = io.popen("ls tests/lua 2>/dev/null")
   if p then
      for name in p:lines() do
         if name:match("^test_.*%.lua$") then files[#files + 1] = name end
      end
      p:close()
   end
   if #files == 0 then
      files = {"test_ops.lua", "test_random.lua", "test_runtime.lua"}
   end
   table.sort(files)
   return files
end

local passed, failed = 0, 0
local function fail(id, message)
   failed = failed + 1
   print("FAIL " .. id .. ": " .. tostring(message))
end

for _, file in ipairs(test_files()) do
   local short = file:gsub("%.lua$", "")
   local ok, tests = pcall(dofile, "tests/lua/" .. file)
   if not ok then
      fail(short .. ":(load)", tests)
   elseif type(tests) ~= "table" then
      fail(short .. ":(load)", "the file did not return a table of tests")
   else
      local names = {}
      for name in pairs(tests) do names[#names + 1] = name end
      table.sort(names)
      for _, name in ipairs(names) do
         local id = short .. ":" .. name
         if not pattern or id:find(pattern) then
            local ok2, err = xpcall(tests[name], debug.traceback)
            if ok2 then passed = passed + 1 else fail(id, err) end
            collectgarbage()
         end
      end
   end
end

print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
