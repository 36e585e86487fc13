// Calls up the module graph, set once by moderate.js: lower modules select a question or redraw without an import cycle.
// The board, the forms (modes.js) and the insights call these; inspector.js and render.js, which import them, provide them.
export const hub = {
  select: null,           // inspector.js select(id, {focus})
  renderInspector: null,  // inspector.js renderInspector(modeChanged)
  refresh: null,          // render.js refresh(ids)
};
