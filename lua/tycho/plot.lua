-- tycho.plot -- ty.plot (being written).
local ty = require "tycho"

local M = ty.plot or {}
ty.plot = M
M.__doc = "ty.plot"
return M
