-- tycho.summary -- ty.summary (being written).
local ty = require "tycho"

local M = ty.summary or {}
ty.summary = M
M.__doc = "ty.summary"
return M
