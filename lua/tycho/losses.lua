-- tycho.losses -- ty.losses (being written).
local ty = require "tycho"

local M = ty.losses or {}
ty.losses = M
M.__doc = "ty.losses"
return M
