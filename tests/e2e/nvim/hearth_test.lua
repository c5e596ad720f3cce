-- Drives Neovim's built-in LSP client against `hearth serve` (run by test_neovim.py).
-- Neovim 0.7 API: vim.lsp.start_client / buf_attach_client.
local out = os.getenv("HEARTH_NVIM_OUT")
local cmd = vim.split(os.getenv("HEARTH_SERVE_CMD"), " ", { trimempty = true })

local function finish(result)
  local f = io.open(out, "w")
  f:write(vim.fn.json_encode(result))
  f:close()
  vim.cmd("qall!")
end

local ok, err = pcall(function()
  local client_id = vim.lsp.start_client({
    name = "hearth",
    cmd = cmd,
    root_dir = vim.fn.getcwd(),
    -- deadlineMs: a loaded machine may take many seconds for the first (cold) prompt.
    init_options = { debounceMs = 0, deadlineMs = 120000 },
  })
  local bufnr = vim.api.nvim_get_current_buf()
  vim.lsp.buf_attach_client(bufnr, client_id)
  local client = vim.lsp.get_client_by_id(client_id)
  vim.wait(20000, function() return client.initialized end, 50)
  -- Wait for the model.
  local ready = vim.wait(60000, function()
    local r = client.request_sync("hearth/status", {}, 2000, bufnr)
    return r and r.result and r.result.model.state == "ready"
  end, 200)
  local caps = client.server_capabilities or client.resolved_capabilities
  local line = vim.api.nvim_buf_line_count(bufnr)
  local text = vim.api.nvim_buf_get_lines(bufnr, line - 1, line, false)[1]
  -- The end of the last line, as in insert mode (normal mode cannot sit past the last character).
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = line - 1, character = vim.str_utfindex(text) },
    context = { triggerKind = 1 },
  }
  local responses = vim.lsp.buf_request_sync(bufnr, "textDocument/completion", params, 60000)
  local items = {}
  for _, r in pairs(responses or {}) do
    if r.result then items = r.result.items or r.result end
  end
  local item = items[1]
  if item then
    vim.lsp.util.apply_text_edits({ item.textEdit }, bufnr, client.offset_encoding or "utf-16")
    client.request_sync("workspace/executeCommand", item.command, 5000, bufnr)
  end
  local status = client.request_sync("hearth/status", {}, 5000, bufnr)
  finish({
    ready = ready,
    encoding = client.offset_encoding,
    item = item,
    buffer = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "\n"),
    recent = status and status.result and status.result.recent or {},
  })
end)
if not ok then finish({ error = tostring(err) }) end
