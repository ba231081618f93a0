-- tycho.dot -- ty.dot (being written).
local ty = require "tycho"

local M = ty.dot or {}
ty.dot = M
M.__doc = "ty.dot"
return M
