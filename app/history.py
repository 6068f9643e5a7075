"""One edit history for the text and the canvas: Undo and Redo, and their keys outside the editor.

Every change of the text the page sees (typing settled into the editor, a canvas edit, a palette
addition, an Inspector edit, a deletion, an opened file) puts the text before it on the undo stack
(`record`, called each time the page takes the text); Undo gives that text back byte for byte, through
the same path as every text the app sets (`pending_text`), and puts the text it replaced on the redo
stack; a new edit clears the redo stack. Ctrl+Z / Ctrl+Shift+Z (Cmd on a Mac, Ctrl+Y too) press the
buttons while the focus is outside the code editor (the editor's own undo handles typing in it)."""

from __future__ import annotations

import streamlit as st

from .state import notify

LIMIT = 100  # the most texts the undo stack keeps


def record(text: str) -> None:
    """The page took `text` as the text: if it differs from the one it took last, that one is pushed
    on the undo stack (never twice in a row) and the redo stack is cleared."""
    ss = st.session_state
    last = ss.history_text
    ss.history_text = text
    if last is None or last == text:
        return
    if not ss.undo_stack or ss.undo_stack[-1] != last:
        ss.undo_stack.append(last)
        del ss.undo_stack[:-LIMIT]
    ss.redo_stack = []


def _restore(text: str, said: str) -> None:
    ss = st.session_state
    ss.history_text = text  # set by Undo or Redo: not a new edit
    ss.pending_text = text
    notify("success", said, text)


def _step(source: str, target: str, said: str) -> None:
    """Move the text one step: the last text of `source` (a stack in the session) comes back, and
    the text now goes onto `target`."""
    ss = st.session_state
    if not ss[source]:
        return
    now = ss.pending_text if ss.pending_text is not None else ss.editor
    text = ss[source].pop()
    ss[target].append(now)
    del ss[target][:-LIMIT]
    _restore(text, said)


def undo() -> None:
    """Give back the text before the last edit (a button's callback: it runs before the page)."""
    _step("undo_stack", "redo_stack", "undone: the text before the last edit is back (Redo brings the edit back)")


def redo() -> None:
    """Make the last undone edit again."""
    _step("redo_stack", "undo_stack", "redone: the undone edit is back")


# Run once in the page itself (st.html runs it there, not in a frame of its own):
# Ctrl+Z / Cmd+Z press Undo, Ctrl+Shift+Z / Cmd+Shift+Z / Ctrl+Y press Redo, on the page and in the
# canvas' frame; inputs and the code editor's frame (not hooked) keep their own undo. In the canvas'
# frame, Backspace or Delete on a selected node or edge removes it there (Delete is given to React
# Flow as Backspace, its delete key); the canvas then sends its state (a click on its empty pane),
# so the page sees the deletion at once and makes it an edit of the text, or puts the node back.
_PAGE_JS = r"""
(function () {
  if (window.__ebmHistoryKeys) return;
  window.__ebmHistoryKeys = true;
  const isInput = (t) => !!t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable);
  const press = (which) => {
    let b = document.querySelector('.st-key-history_' + which + ' button');
    if (!b) {
      const label = which === 'undo' ? 'Undo' : 'Redo';
      b = [...document.querySelectorAll('button')].find((x) => x.innerText.trim() === label);
    }
    if (b && !b.disabled) b.click();
  };
  const onKey = (e) => {
    if (!(e.ctrlKey || e.metaKey) || e.altKey || isInput(e.target)) return;
    const k = (e.key || '').toLowerCase();
    if (k === 'z') { e.preventDefault(); e.stopPropagation(); press(e.shiftKey ? 'redo' : 'undo'); }
    else if (k === 'y' && e.ctrlKey) { e.preventDefault(); e.stopPropagation(); press('redo'); }
  };
  document.addEventListener('keydown', onKey, true);
  const hookCanvas = (doc) => {
    const view = doc.defaultView;
    const shown = () => doc.querySelectorAll('.react-flow__node').length + ':' +
      doc.querySelectorAll('.react-flow__edge').length;
    doc.addEventListener('keydown', onKey, true);
    doc.addEventListener('keydown', (e) => {
      if ((e.key !== 'Backspace' && e.key !== 'Delete') || isInput(e.target) || e.ctrlKey || e.metaKey) return;
      const before = shown();
      if (e.key === 'Delete') {
        const opts = {key: 'Backspace', code: 'Backspace', bubbles: true};
        doc.body.dispatchEvent(new view.KeyboardEvent('keydown', opts));
        view.setTimeout(() => doc.body.dispatchEvent(new view.KeyboardEvent('keyup', opts)), 30);
      }
      let tries = 0;
      const send = () => {
        const pane = doc.querySelector('.react-flow__pane');
        if (shown() !== before && pane) {
          pane.dispatchEvent(new view.MouseEvent('click', {bubbles: true, cancelable: true, view: view}));
        } else if (++tries < 20) {
          view.setTimeout(send, 50);
        }
      };
      view.setTimeout(send, 50);
    }, true);
  };
  setInterval(() => {
    for (const f of document.querySelectorAll("iframe[title*='streamlit_flow']")) {
      let doc = null;
      try { doc = f.contentDocument; } catch (err) { continue; }
      if (!doc || !doc.body || doc.__ebmHooked) continue;
      doc.__ebmHooked = true;
      hookCanvas(doc);
    }
  }, 400);
})();
"""


def buttons() -> None:
    """Undo and Redo (their keys: Ctrl+Z and Ctrl+Shift+Z, Cmd on a Mac, outside the code editor)."""
    ss = st.session_state
    c1, c2, _ = st.columns([1, 1, 4])
    c1.button("Undo", key="history_undo", on_click=undo, disabled=not ss.undo_stack,
              help="the text before the last edit (Ctrl+Z outside the editor; Cmd+Z on a Mac)")
    c2.button("Redo", key="history_redo", on_click=redo, disabled=not ss.redo_stack,
              help="the last undone edit (Ctrl+Shift+Z outside the editor; Cmd+Shift+Z on a Mac)")
    st.html(f"<script>{_PAGE_JS}</script>", unsafe_allow_javascript=True)
