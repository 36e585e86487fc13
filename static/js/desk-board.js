// The desk's columns: compact cards in sort order, re-rendered only where an event touched them.
// Cards carry no buttons: a click or a key selects a card, and the selected question's actions
// live in one place (the inspector), so nothing inside a card can be clicked by accident.
import { day, fmt, h, plural, time } from "./dom.js";

// Long columns show their first WINDOW cards and a "show more" button (search and filters reach
// the rest): a desk with 10,000 questions renders a few hundred cards, not ten thousand.
const WINDOW = 150;

// The columns and their order; which column a question is in is the server's to say (`q.column`, from
// services/moderation.py's DESK_COLUMNS), so the desk keeps no list of statuses.
export const COLUMNS = {
  incoming: {},
  approved: { sort: (a, b) => b.votes - a.votes || a.id - b.id },
  queue: { sort: (a, b) => a.position - b.position || a.id - b.id },
  onair: { sort: (a, b) => a.id - b.id },
  done: { sort: (a, b) => b.id - a.id },
};

export function columnOf(q) {
  return COLUMNS[q.column] ? q.column : "done";
}

/**
 * A board over `state.questions`. `view` supplies: t (strings), locale, matches(q), selected(),
 * newestFirst(), groupSize(q), mergedCount(q), categoryName(id), suggestion(q), onSelect(id), and for a
 * broadcast the desk holds in pages: total(name) (the server's count, or null), more(name), loadMore(name),
 * unheld(name) (while a search runs: how many of the column's questions the desk does not hold),
 * onNewAbove(name, n) (cards that arrived above the selected one, out of sight, since the list was last at its top).
 */
export function createBoard(view) {
  const t = view.t;
  const cards = new Map();  // id -> element
  const order = Object.fromEntries(Object.keys(COLUMNS).map((k) => [k, []]));
  const placed = new Map();  // id -> its column (whether or not its card is in the window)
  // New questions that arrived above the selected card while its list was scrolled: kept out of the
  // page until the moderator goes back to the top (the "new above" pill), so a flood neither moves the
  // card being worked on nor makes every arrival lay out a longer list.
  const above = Object.fromEntries(Object.keys(COLUMNS).map((k) => [k, new Set()]));
  const limit = Object.fromEntries(Object.keys(COLUMNS).map((k) => [k, k === "queue" || k === "onair" ? Infinity : WINDOW]));
  const list = (name) => document.getElementById(`list-${name}`);
  let questions = new Map();

  function sorter(name) {
    if (name === "incoming") return view.newestFirst() ? (a, b) => b.id - a.id : (a, b) => a.id - b.id;
    return COLUMNS[name].sort;
  }

  function metaLine(q) {
    const parts = [`#${q.id}`, q.author_name, q.district, q.language.toUpperCase()];
    if (q.channel !== "web") parts.push(t[q.channel] || q.channel);
    parts.push(time(q.created_at, view.locale));
    return parts.filter(Boolean).join(" · ");
  }

  function badges(q) {
    const out = [h("span", { class: "badge votes", title: plural(t.votes_n, q.votes) }, `▲ ${q.votes}`)];
    if (q.asker_count > 1) out.push(h("span", { class: "badge askers", title: plural(t.askers_n, q.asker_count) }, `👥 ${q.asker_count}`));
    const merged = view.mergedCount(q);
    if (merged > 0) out.push(h("span", { class: "badge merged-here", title: plural(t.merged_here, merged) }, `⊕ ${merged}`));
    const size = view.groupSize(q);
    if (size > 1) out.push(h("span", { class: "badge group", title: fmt(t.group_of, { n: size }) }, `≈ ${size}`));
    const cat = view.categoryName(q.category_id);
    if (cat) out.push(h("span", { class: "badge cat" }, cat));
    else {
      const suggested = view.suggestion(q);
      if (suggested) out.push(h("span", { class: "badge cat suggested", title: fmt(t.suggested, { name: suggested }) }, `${suggested}?`));
    }
    const a = q.appeal;
    if (a && a.urgency) out.push(h("span", { class: `due ${a.urgency}` }, `${t[a.urgency]} ${day(a.due_date, view.locale)}`));
    if (a && a.follow_up) out.push(h("span", { class: "badge follow-up" }, t.follow_up_flagged));
    return out;
  }

  function renderCard(q) {
    const selected = view.selected() === q.id;
    return sized(h("li", {
      class: `qcard ${q.status}${selected ? " selected" : ""}`, tabindex: selected ? 0 : -1,
      dataset: { id: q.id, status: q.status }, "aria-selected": selected ? "true" : "false",
      onclick: () => view.onSelect(q.id),
    },
    h("p", { class: "text" }, q.text),
    h("p", { class: "meta" }, metaLine(q)),
    h("p", { class: "badges" }, ...badges(q))));
  }

  // A card's real height comes after it is drawn (content-visibility: those near the view a frame later, and a
  // scroll put back brings others near it, which then take theirs): each time a card's size changes, the selected
  // card is put back where it was, before the frame is painted (unless the moderator scrolled meanwhile). A search
  // cleared moved it 114 px down for 0.6 s before. Only in the second after the desk drew or updated cards: a
  // window resized later (every card narrower or wider) leaves the scroll where the moderator has it.
  let settleUntil = 0;
  const SETTLE_MS = 1000;
  const resized = typeof ResizeObserver === "function" ? new ResizeObserver(() => {
    if (performance.now() > settleUntil) return;
    if (keep && Math.abs(keep.list.scrollTop - keep.scrollTop) <= 1) restoreAnchor(keep.id);
  }) : null;
  function sized(el) { resized?.observe(el); return el; }
  function drop(id) {  // a card taken off the page: no longer watched
    const el = cards.get(id);
    resized?.unobserve(el);
    el.remove();
    cards.delete(id);
  }

  function moreButton(name) {
    const shown = Math.min(order[name].length, limit[name]);
    // a long broadcast: what the server holds beyond the desk's pages counts too
    const hidden = Math.max(order[name].length, view.total?.(name) ?? 0) - shown;
    // a search on a long broadcast reads only what the desk holds: the rest of the column is a page away
    const further = hidden > 0 ? 0 : view.unheld?.(name) ?? 0;
    let more = list(name).querySelector(":scope > li.more");
    if (hidden <= 0 && further <= 0) { more?.remove(); return; }
    if (!more) {
      more = h("li", { class: "more" }, h("button", { type: "button", class: "button small", onclick: async (e) => {
        limit[name] += WINDOW * 4;
        if (order[name].length < limit[name] && view.more?.(name)) {
          e.currentTarget.disabled = true;
          if (await view.loadMore(name)) return;  // the desk redrew itself, its counts too
        }
        rebuild(questions);
      } }));
    }
    more.firstChild.textContent = hidden > 0 ? fmt(t.show_more, { n: hidden }) : fmt(t.show_more_server, { n: further });
    list(name).append(more);  // always last
  }

  // While a card is being dragged the lists stay as they are (a card replaced under the pointer ends the drag);
  // what arrives meanwhile is applied when it is dropped.
  let held = null;
  function hold() { held = held || { all: null, ids: new Set() }; }
  function release() {
    const pending = held;
    held = null;
    if (!pending) return;
    if (pending.all) rebuild(pending.all);
    else if (pending.ids.size) update(questions, [...pending.ids].filter((id) => questions.has(id)));
  }

  function rebuild(all) {
    if (held) { held.all = all; questions = all; return; }
    questions = all;
    // the selected card stays where it is on screen (a search typed and cleared, the order switched
    // and back), whatever the new drawing puts above it
    const selected = view.selected();
    anchorFor(selected);
    resized?.disconnect();  // the cards drawn below are watched afresh
    cards.clear();
    placed.clear();
    for (const set of Object.values(above)) set.clear();
    // what the pill counted is on the page now (or, oldest first, below): it starts again
    for (const name of Object.keys(newAbove)) if (newAbove[name]) { newAbove[name] = 0; view.onNewAbove(name, 0); }
    const lists = Object.fromEntries(Object.keys(COLUMNS).map((k) => [k, []]));
    for (const q of all.values()) if (view.matches(q)) lists[columnOf(q)].push(q);
    for (const [name, items] of Object.entries(lists)) {
      items.sort(sorter(name));
      order[name] = items.map((q) => q.id);
      for (const q of items) placed.set(q.id, name);
      list(name).replaceChildren(...items.slice(0, limit[name]).map((q) => {
        const el = renderCard(q);
        cards.set(q.id, el);
        return el;
      }));
      moreButton(name);
    }
    restoreAnchor(selected);
    if (keep) settleAnchor();
  }

  function slot(name, q) {
    const ids = order[name];
    const cmp = sorter(name);
    let lo = 0;
    let hi = ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cmp(questions.get(ids[mid]), q) <= 0) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  function showAt(name, index) {
    const id = order[name][index];
    if (id === undefined || cards.has(id)) return;
    const el = renderCard(questions.get(id));
    list(name).insertBefore(el, nextCard(name, index) || list(name).querySelector(":scope > li.more"));
    cards.set(id, el);
  }

  function nextCard(name, index) {  // the first card on the page after this place (some above may be held)
    const ids = order[name];
    for (let j = index + 1; j < ids.length && j < limit[name]; j += 1) {
      const el = cards.get(ids[j]);
      if (el) return el;
    }
    return null;
  }

  /** Put the held arrivals on the page, from the lowest up (each goes before a card already there). */
  function reveal(name) {
    if (!above[name].size) return;
    const held = [...above[name]].map((id) => order[name].indexOf(id)).filter((i) => i >= 0).sort((a, b) => b - a);
    above[name].clear();
    for (const i of held) showAt(name, i);
    moreButton(name);
  }

  // Where the selected card should stay on screen: its top when it was selected or the moderator last
  // scrolled its list. Each update puts it back there exactly; correcting by the last update's shift
  // instead left the fraction of a pixel that scrollTop drops each time (357 px after 1,000 arrivals).
  let keep = null;
  const newAbove = {};
  const pinnedTop = {};  // a list the moderator sent to its top (the pill)

  function anchorFor(id) {
    const anchor = cards.get(id);
    const scroller = anchor?.parentElement;
    // a card a filter hides keeps its place for when it is drawn again
    if (!anchor || !scroller) { if (keep && keep.id !== id) keep = null; return; }
    if (keep && keep.id === id && keep.list === scroller && Math.abs(scroller.scrollTop - keep.scrollTop) <= 1) return;
    keep = { id, list: scroller, top: anchor.getBoundingClientRect().top, scrollTop: scroller.scrollTop };
  }

  function restoreAnchor(id) {
    const now = cards.get(id);
    if (!keep || keep.id !== id || !now || now.parentElement !== keep.list) return;
    const shift = now.getBoundingClientRect().top - keep.top;
    if (Math.abs(shift) >= 0.5) keep.list.scrollTop += shift;
    keep.scrollTop = keep.list.scrollTop;
  }

  // A card that arrives off screen is laid out at its placeholder height (content-visibility); the
  // ones near the view get their real height a frame or two later, which would move the selected
  // card again: it is put back once that has happened (unless the moderator scrolled meanwhile).
  let settling = false;
  function settleAnchor() {
    settleUntil = performance.now() + SETTLE_MS;
    if (settling) return;
    settling = true;
    requestAnimationFrame(() => requestAnimationFrame(() => {
      settling = false;
      if (keep && Math.abs(keep.list.scrollTop - keep.scrollTop) <= 1) restoreAnchor(keep.id);
    }));
  }

  function countAbove(name, index) {
    const sel = view.selected();
    if (placed.get(sel) !== name || !keep || keep.list.scrollTop <= 0) return;
    if (index < order[name].indexOf(sel)) {
      newAbove[name] = (newAbove[name] || 0) + 1;
      view.onNewAbove(name, newAbove[name]);
    }
  }

  for (const name of Object.keys(COLUMNS)) {
    // back at the top of its list, the moderator has seen what arrived
    list(name)?.addEventListener("scroll", () => {
      if (newAbove[name] && list(name).scrollTop < 4) { reveal(name); newAbove[name] = 0; view.onNewAbove(name, 0); }
      if (list(name).scrollTop >= 4) pinnedTop[name] = false;
    }, { passive: true });
  }

  /** Re-render the cards of these ids where they now belong; the selected card keeps its place on screen. */
  function update(all, ids) {
    questions = all;
    if (held) { for (const id of ids) held.ids.add(id); return; }
    const selected = view.selected();
    const home = placed.get(selected);
    // back at the top by the pill: a redraw of cards already there (their insights, a vote) leaves the list at
    // its top; the next new question puts the selected card's place first again
    if (home !== undefined && pinnedTop[home] && list(home).scrollTop === 0 && ids.every((id) => placed.has(id))) keep = null;
    else {
      if (home !== undefined) pinnedTop[home] = false;
      anchorFor(selected);
    }
    // arrivals above the selected card are held while its list is scrolled away from the top (read
    // before anything changes, so the read costs no layout)
    const holding = home !== undefined && cards.has(selected) && (above[home].size > 0 || list(home).scrollTop > 0);
    // above the selected card by the column's order, not by its index: the same update may have taken the
    // selected card out and not put it back yet (the insights touch a group's new and old members at once)
    const selectedQ = questions.get(selected);
    const stays = holding && selectedQ !== undefined && view.matches(selectedQ) && columnOf(selectedQ) === home;
    const focused = cards.has(selected) && document.activeElement === cards.get(selected);
    const arrived = [];
    const known = new Set(ids.filter((id) => placed.has(id)));
    const wasAbove = new Set(ids.filter((id) => above[placed.get(id)]?.has(id)));
    const pill = new Set();  // the columns whose pill count changed
    for (const id of ids) {  // first take every touched card out, so the rest stay in order
      const name = placed.get(id);
      if (name === undefined) continue;
      const ids_ = order[name];
      ids_.splice(ids_.indexOf(id), 1);
      placed.delete(id);
      if (above[name].delete(id)) {  // it was held: the window keeps its cards, the pill counts it no more
        if (limit[name] !== Infinity) limit[name] -= 1;
        newAbove[name] = Math.max(0, (newAbove[name] || 0) - 1);
        pill.add(name);
      } else if (cards.has(id)) {
        drop(id);
        if (ids_.length >= limit[name]) showAt(name, limit[name] - 1);  // the next one moves into the window
      }
    }
    for (const id of ids) {  // then put each back where it now belongs
      const q = questions.get(id);
      if (!q || !view.matches(q) || placed.has(id)) continue;
      const name = columnOf(q);
      const i = slot(name, q);
      order[name].splice(i, 0, id);
      placed.set(id, name);
      if (!known.has(id) || wasAbove.has(id)) arrived.push([name, id]);  // a held one still counts while above
      if (stays && name === home && (!known.has(id) || wasAbove.has(id)) && sorter(home)(q, selectedQ) < 0) {
        above[name].add(id);  // out of sight above: counted on the pill, put on the page from the top
        if (limit[name] !== Infinity) limit[name] += 1;
        newAbove[name] = (newAbove[name] || 0) + 1;
        pill.add(name);
        continue;
      }
      if (i < limit[name]) {
        showAt(name, i);
        const overflow = order[name][limit[name]];  // pushed out of the window
        // the selected card is never pushed out: the window grows instead (below)
        if (overflow !== undefined && overflow === view.selected()) limit[name] += 1;
        else if (overflow !== undefined && cards.has(overflow)) drop(overflow);
      }
    }
    // keep some cards rendered below the selected one, so its column can scroll to hold it in place
    const now = placed.get(view.selected());
    if (now !== undefined && limit[now] !== Infinity) {
      const index = order[now].indexOf(view.selected());
      // only when it is at the window's edge (pushed down by arrivals), not when it moved far away
      if (index >= limit[now] - 20 && index <= limit[now] + 1) {
        const grown = index + 60;
        for (let k = limit[now]; k < Math.min(grown, order[now].length); k += 1) showAt(now, k);
        limit[now] = grown;
      }
    }
    for (const name of Object.keys(order)) moreButton(name);
    // the selected card was drawn anew: the focus goes with it (else it falls to the page)
    if (focused && cards.has(selected) && document.activeElement !== cards.get(selected)) cards.get(selected).focus({ preventScroll: true });
    // cards inserted above the selected one must not push it out of view
    restoreAnchor(selected);
    if (keep) settleAnchor();
    for (const [name, id] of arrived) if (id !== selected && !above[name].has(id)) countAbove(name, order[name].indexOf(id));
    for (const name of pill) view.onNewAbove(name, newAbove[name]);
  }

  /** Scroll a list back to its top (the "new above" pill). */
  function toTop(name) {
    reveal(name);
    list(name).scrollTop = 0;
    keep = null;
    pinnedTop[name] = true;
    newAbove[name] = 0;
    view.onNewAbove(name, 0);
  }

  /** Put a held card on the page with the others held in its column (it is being selected: a merge into it, the panel). */
  function show(id) {
    const name = placed.get(id);
    if (name === undefined || !above[name].has(id)) return;
    reveal(name);
    newAbove[name] = 0;
    view.onNewAbove(name, 0);
  }

  return {
    rebuild, update, hold, release, cards, order, toTop, show,
    card: (id) => cards.get(id),
    column: (id) => placed.get(id),
    /** The ids on screen, column by column, top to bottom (for j/k and the arrows). */
    visibleIds(name = null) {
      const names = name ? [name] : ["incoming", "approved", "queue", "done"];
      return names.flatMap((n) => [...list(n).querySelectorAll(":scope > .qcard")].map((el) => Number(el.dataset.id)));
    },
    count: (name) => order[name].length,
  };
}
