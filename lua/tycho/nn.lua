-- tycho.nn -- ty.nn (being written).
local ty = require "tycho"

local M = ty.nn or {}
ty.nn = M
M.__doc = "ty.nn"
return M
