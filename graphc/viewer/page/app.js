/* graphc interactive model viewer: draws the expanded part of the model tree with Graphviz
   (the vendored @viz-js/viz, WebAssembly), and handles expand/collapse, selection, search,
   paths, views, pan and zoom. The data comes from graphc/viewer/page_data.py (#graphc-data).
   Hooks for tests and tools are documented in docs/viz.md. */
(function () {
  'use strict';
  const DATA = JSON.parse(document.getElementById('graphc-data').textContent);
  const $ = (sel) => document.querySelector(sel);
  const canvas = $('#canvas');
  const details = $('[data-role=details]');
  const crumbs = $('[data-role=breadcrumbs]');
  const search = $('input[data-role=search]');
  const count = $('[data-role=search-count]');
  const t0 = performance.now();
  window.graphcTimings = { renders: [] };

  const state = { view: 'layer', open: new Set(), selected: null, query: '', zoom: null, matches: new Set() };
  const models = {};
  let viz = null, svg = null, drawn = null, box = null;

  // -- the model of one view ----------------------------------------------------------------
  function model(name) {
    if (models[name]) return models[name];
    const v = DATA.views[name];
    const items = v.items.map((it, id) => ({ id, parent: it[0], kind: it[1], name: it[2], label: it[3],
      color: it[4], flags: it[5] || {}, children: [], details: opDetails(v.details[id], it) }));
    const roots = [];
    for (const it of items) (it.parent < 0 ? roots : items[it.parent].children).push(it.id);
    const byKey = new Map(items.map((it) => [key(it), it.id]));
    return (models[name] = { items, roots, edges: v.edges, byKey });
  }
  function opDetails(d, it) { // ops come as compact rows: [op, attrs, inputs, outputs, params, macs, flops, fused]
    if (!Array.isArray(d)) return d || {};
    const attrs = Object.fromEntries(d[1]);
    return { kind: it[5] && it[5].backward ? 'backward op' : 'op', op: d[0], attrs, inputs: d[2], outputs: d[3],
      params: d[4], macs: d[5], flops: d[6], fused: d[7].length ? d[7] : undefined,
      search: (d[0] + ' ' + d[4].map((p) => p[0]).join(' ')).toLowerCase() };
  }
  function key(it) { return (it.kind === 'group' ? 'g:' : 'n:') + it.name; }
  function expandable(it) { return it.children.length > 0; }
  function isOpen(it) { return expandable(it) && state.open.has(key(it)); }

  // -- DOT of the current state ---------------------------------------------------------------
  function q(text) { return '"' + String(text).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') + '"'; }

  function nodeAttrs(it) {
    const a = { id: 'i' + it.id, label: it.label, tooltip: it.name };
    if (it.kind === 'input') Object.assign(a, { shape: 'invhouse', fillcolor: '#b7e4c7', style: it.flags.unused ? 'filled,dashed' : 'filled' });
    else if (it.kind === 'output') Object.assign(a, { shape: 'house', fillcolor: '#a9d6e5', style: 'filled' });
    else if (expandable(it)) Object.assign(a, { shape: 'box3d', style: 'filled', fillcolor: it.kind === 'group' ? '#fafafa' : it.color });
    else Object.assign(a, { fillcolor: it.color || '#ffffff' });
    if (it.flags.backward) Object.assign(a, { color: '#c0392b', fontcolor: '#c0392b', style: 'rounded,filled,dashed' });
    if (it.flags.removed) Object.assign(a, { color: '#999999', fontcolor: '#888888', style: 'rounded,dashed', fillcolor: '#ffffff', label: it.label + '\n(removed by passes)' });
    if (it.flags.fused) Object.assign(a, { color: '#7b2cbf', penwidth: '2.5' });
    return Object.entries(a).map(([k, v]) => k + '=' + q(v)).join(', ');
  }

  function buildDot(m) {
    const n = m.items.length, rep = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const p = m.items[i].parent;
      if (p < 0) rep[i] = i;
      else if (rep[p] !== p) rep[i] = rep[p];
      else rep[i] = isOpen(m.items[p]) ? i : p;
    }
    const lines = ['digraph G {', '  graph [rankdir=' + q(DATA.rankdir || 'TB') + ', fontname="Helvetica", nodesep=0.25, ranksep=0.35, newrank=true];',
      '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, color="#444444"];',
      '  edge [fontname="Helvetica", fontsize=8, color="#555555", arrowsize=0.6];'];
    const emit = (id, pad) => {
      const it = m.items[id];
      if (isOpen(it)) {
        const style = it.flags.backward ? 'dashed,rounded' : it.flags.run || it.flags.chunk ? 'dashed,rounded' : 'rounded,filled';
        lines.push(pad + 'subgraph cluster_i' + id + ' {');
        lines.push(pad + '  id=' + q('i' + id) + '; label=' + q(it.label) + '; style=' + q(style) + '; fillcolor=' + q(it.kind === 'group' ? '#f7f7f7' : '#ffffff') +
          '; color=' + q(it.flags.backward ? '#c0392b' : '#555555') + '; fontsize=11; tooltip=' + q(it.name) + ';');
        for (const c of it.children) emit(c, pad + '  ');
        lines.push(pad + '}');
      } else {
        lines.push(pad + 'i' + id + ' [' + nodeAttrs(it) + '];');
      }
    };
    for (const r of m.roots) emit(r, '  ');
    const seen = new Map(), edges = [];
    for (const [s, d, label] of m.edges) {
      const a = rep[s], b = rep[d];
      if (a === b) continue;
      const k = a * n + b;
      if (seen.has(k)) continue;
      seen.set(k, edges.length);
      edges.push([a, b]);
      lines.push('  i' + a + ' -> i' + b + ' [id=' + q('e' + (edges.length - 1)) + ', label=' + q(label) + '];');
    }
    lines.push('}');
    return { dot: lines.join('\n'), rep, edges };
  }

  // -- rendering ---------------------------------------------------------------------------
  function render(focus) {
    const start = performance.now();
    document.body.dataset.state = 'rendering';
    const m = model(state.view);
    const built = buildDot(m);
    let fresh;
    try {
      fresh = viz.renderSVGElement(built.dot);
    } catch (err) {
      showError('layout failed: ' + err);
      return;
    }
    const old = new Map();
    if (svg) for (const el of svg.querySelectorAll('[data-node],[data-group]')) old.set(el.dataset.key, el);
    for (const g of fresh.querySelectorAll('g.node, g.cluster')) {
      if (!/^i\d+$/.test(g.id)) continue;
      const it = m.items[+g.id.slice(1)];
      const title = g.querySelector('title');
      if (title) title.textContent = it.name;
      g.dataset.key = key(it);
      g.dataset.item = it.id;
      g.dataset.kind = it.kind;
      if (it.kind === 'group' || (expandable(it) && isOpen(it))) {
        g.dataset.group = it.name;
        g.dataset.expanded = isOpen(it) ? 'true' : 'false';
      } else {
        g.dataset.node = it.name;
      }
      if (expandable(it) && it.kind !== 'group') g.dataset.ops = isOpen(it) ? 'open' : 'closed';
      for (const f of ['fused', 'removed', 'backward']) if (it.flags[f]) g.dataset[f] = 'true';
      const prev = old.get(g.dataset.key);
      if (prev && (prev.hasAttribute('data-group') === g.hasAttribute('data-group'))) { // keep element identity
        for (const a of [...prev.attributes]) prev.removeAttribute(a.name);
        for (const a of [...g.attributes]) prev.setAttribute(a.name, a.value);
        prev.replaceChildren(...g.childNodes);
        g.replaceWith(prev);
      }
    }
    for (const g of fresh.querySelectorAll('g.edge')) {
      const k = /^e(\d+)$/.exec(g.id);
      if (k) { g.dataset.edge = k[1]; const [a, b] = built.edges[+k[1]]; g.dataset.from = a; g.dataset.to = b; }
      const title = g.querySelector('title');
      if (title) title.remove();
    }
    const vb = fresh.viewBox.baseVal;
    box = { w: vb.width, h: vb.height };
    fresh.removeAttribute('width');
    fresh.removeAttribute('height');
    if (svg) svg.replaceWith(fresh); else canvas.appendChild(fresh);
    svg = fresh;
    drawn = { m, rep: built.rep, edges: built.edges };
    if (state.zoom === null) state.zoom = Math.max(0.6, Math.min(1.2, fitZoom()));
    applyZoom();
    mark();
    highlightPath();
    if (focus !== undefined) {
      const el = svg.querySelector('[data-item="' + focus + '"]');
      if (el) el.scrollIntoView({ block: 'center', inline: 'center' });
    }
    const ms = performance.now() - start;
    window.graphcTimings.renders.push(ms);
    window.graphcTimings.last = ms;
    if (window.graphcTimings.firstRender === undefined) window.graphcTimings.firstRender = performance.now() - t0;
    $('[data-role=status]').textContent = svg.querySelectorAll('[data-node]').length + ' nodes, ' +
      svg.querySelectorAll('[data-group]').length + ' groups drawn (' + ms.toFixed(0) + ' ms)';
    document.body.dataset.renders = String(window.graphcTimings.renders.length);
    document.body.dataset.state = 'ready';
  }

  // -- zoom and pan ------------------------------------------------------------------------
  function fitZoom() { return Math.min((canvas.clientWidth - 24) / box.w, (canvas.clientHeight - 24) / box.h); }
  function applyZoom() {
    svg.setAttribute('width', Math.max(1, box.w * state.zoom) + 'px');
    svg.setAttribute('height', Math.max(1, box.h * state.zoom) + 'px');
  }
  function zoomBy(f, cx, cy) {
    const r = canvas.getBoundingClientRect();
    const x = (cx === undefined ? r.width / 2 : cx - r.left), y = (cy === undefined ? r.height / 2 : cy - r.top);
    const gx = (canvas.scrollLeft + x) / state.zoom, gy = (canvas.scrollTop + y) / state.zoom;
    state.zoom = Math.max(0.02, Math.min(8, state.zoom * f));
    applyZoom();
    canvas.scrollLeft = gx * state.zoom - x;
    canvas.scrollTop = gy * state.zoom - y;
  }
  function fit() { state.zoom = Math.min(2, fitZoom()); applyZoom(); canvas.scrollLeft = 0; canvas.scrollTop = 0; }

  let drag = null;
  canvas.addEventListener('mousedown', (e) => { if (e.button === 0) drag = { x: e.clientX, y: e.clientY, l: canvas.scrollLeft, t: canvas.scrollTop, moved: false }; });
  window.addEventListener('mousemove', (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 4) drag.moved = true;
    if (drag.moved) { canvas.scrollLeft = drag.l - dx; canvas.scrollTop = drag.t - dy; canvas.classList.add('panning'); }
  });
  window.addEventListener('mouseup', () => { setTimeout(() => { drag = null; }, 0); canvas.classList.remove('panning'); });
  canvas.addEventListener('wheel', (e) => {
    if (!e.ctrlKey && !e.metaKey) return; // plain wheel scrolls (pans); ctrl + wheel zooms
    e.preventDefault();
    zoomBy(e.deltaY < 0 ? 1.15 : 1 / 1.15, e.clientX, e.clientY);
  }, { passive: false });

  // -- selection, expansion ----------------------------------------------------------------
  function toggle(it, open) {
    const k = key(it);
    const now = open === undefined ? !state.open.has(k) : open;
    if (now) {
      state.open.add(k);
      // a group holding only groups also opens its first one, so opening always draws nodes
      const items = model(state.view).items;
      for (let g = it; g.children.length && g.children.every((c) => items[c].kind === 'group');) {
        g = items[g.children[0]];
        state.open.add(key(g));
      }
    } else state.open.delete(k);
    render(it.id);
  }
  canvas.addEventListener('click', (e) => {
    if (drag && drag.moved) return;
    const el = e.target.closest('[data-node],[data-group]');
    if (!el || !drawn) return;
    const it = drawn.m.items[+el.dataset.item];
    select(it.id);
    if (el.hasAttribute('data-group')) toggle(it);
  });
  canvas.addEventListener('dblclick', (e) => {
    const el = e.target.closest('[data-node]');
    if (!el) return;
    const it = drawn.m.items[+el.dataset.item];
    if (expandable(it)) toggle(it, true);
  });

  function select(id) {
    state.selected = id === null ? null : key(drawn.m.items[id]);
    showDetails(id);
    showCrumbs(id);
    highlightPath();
  }
  function selectedItem() {
    if (state.selected === null || !drawn) return null;
    const id = drawn.m.byKey.get(state.selected);
    return id === undefined ? null : drawn.m.items[id];
  }

  function highlightPath() {
    if (!svg) return;
    for (const el of svg.querySelectorAll('[data-path]')) el.removeAttribute('data-path');
    for (const el of svg.querySelectorAll('[data-selected]')) el.removeAttribute('data-selected');
    const it = selectedItem();
    if (!it) return;
    const target = drawn.rep[it.id];
    const own = svg.querySelector('[data-item="' + target + '"]') || svg.querySelector('[data-item="' + it.id + '"]');
    if (own) own.dataset.selected = 'true';
    const into = new Map();
    drawn.edges.forEach(([a, b], k) => { if (!into.has(b)) into.set(b, []); into.get(b).push([a, k]); });
    const seen = new Set([target]), todo = [target], onPath = [];
    while (todo.length) {
      const b = todo.pop();
      for (const [a, k] of into.get(b) || []) {
        onPath.push(k);
        if (!seen.has(a)) { seen.add(a); todo.push(a); }
      }
    }
    for (const id of seen) { const el = svg.querySelector('[data-item="' + id + '"]'); if (el) el.dataset.path = 'true'; }
    for (const k of onPath) { const el = svg.querySelector('[data-edge="' + k + '"]'); if (el) el.dataset.path = 'true'; }
  }

  function esc(s) { return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;'); }
  function num(n) { return Number(n).toLocaleString('en-US'); }
  function table(head, rows) {
    if (!rows.length) return '';
    return '<table><tr>' + head.map((h) => '<th>' + esc(h) + '</th>').join('') + '</tr>' +
      rows.map((r) => '<tr>' + r.map((c) => '<td>' + esc(c) + '</td>').join('') + '</tr>').join('') + '</table>';
  }

  function showDetails(id) {
    if (id === null) { details.innerHTML = '<p class="hint">Click a node for its details; click a folded group to open it.</p>'; return; }
    const it = drawn.m.items[id], d = it.details;
    let h = '<h2 data-field="name">' + esc(it.name) + '</h2><p class="kind">' + esc(d.kind || it.kind) + (d.op ? ' · <b data-field="op">' + esc(d.op) + '</b>' : '') + '</p>';
    if (d.outputs && d.outputs.length) h += '<div class="row"><span>output</span><code data-field="output">' + esc(d.outputs.map((o) => o[1]).join(', ')) + '</code></div>';
    if (d.loc) h += '<div class="row"><span>spec</span><code data-field="loc">' + esc(d.loc) + '</code></div>';
    if (d.onnx) h += table(['ONNX node', 'domain', 'opset'], [[d.onnx.name, d.onnx.domain, d.onnx.opset]]);
    if (d.repeat) h += '<div class="row"><span>repeat</span><code>x' + d.repeat + '</code></div>';
    if (d.copies) h += '<div class="row"><span>copies</span><code>' + num(d.copies) + '</code></div>';
    if (d.layers !== undefined) h += '<div class="row"><span>layers</span><code>' + num(d.layers) + '</code></div>';
    if (d.params !== undefined && !Array.isArray(d.params)) h += '<div class="row"><span>params</span><code>' + num(d.params) + '</code></div>';
    if (Array.isArray(d.params) && d.params.length) h += '<div class="row"><span>params</span><code data-field="params">' + num(d.params.reduce((a, p) => a + (+p[2] || 0), 0)) + '</code></div>';
    if (d.removed) h += '<p class="removed">' + esc(d.removed) + '</p>';
    if (d.fused) h += '<p class="fused">fused with: ' + esc(d.fused.join(', ')) + '</p>';
    if (d.flops !== undefined) h += '<div class="row"><span>FLOPs</span><code data-field="flops">' + num(d.flops) + '</code><span>MACs</span><code>' + num(d.macs) + '</code></div>';
    if (d.attrs && Object.keys(d.attrs).length) h += '<h3>attributes</h3>' + table(['name', 'value'], Object.entries(d.attrs));
    if (d.inputs && d.inputs.length) h += '<h3>inputs</h3>' + table(['name', 'shape, dtype'], d.inputs);
    if (d.outputs && d.outputs.length) h += '<h3>outputs</h3>' + table(['name', 'shape, dtype'], d.outputs);
    if (Array.isArray(d.params) && d.params.length) h += '<h3>parameters</h3>' + table(['name', 'shape', 'count'], d.params.map((p) => [p[0], p[1], num(p[2])]));
    if (d.ops && d.ops.length) {
      h += '<h3>ops' + (expandable(it) ? ' <button data-role="open-ops">' + (isOpen(it) ? 'close' : 'open') + ' in graph</button>' : '') + '</h3>' + table(['node', 'op', 'attributes'], d.ops);
    }
    if (d.text) h += '<h3>spec text <code>' + esc(d.loc) + '</code></h3><pre class="src" data-field="text">' + esc(d.text) + '</pre>';
    details.innerHTML = h;
    const b = details.querySelector('[data-role=open-ops]');
    if (b) b.addEventListener('click', () => { toggle(it); showDetails(it.id); });
  }

  function showCrumbs(id) {
    crumbs.innerHTML = '';
    const chain = [];
    if (id !== null) for (let i = id; i >= 0; i = drawn.m.items[i].parent) chain.unshift(i);
    const add = (text, fn) => { const a = document.createElement('button'); a.textContent = text; a.addEventListener('click', fn); crumbs.appendChild(a); };
    add(DATA.title, () => { state.open.clear(); select(null); render(); fit(); });
    for (const i of chain) {
      const it = drawn.m.items[i];
      add(it.name, () => back(i));
    }
  }
  function back(id) { // close everything below this item, keep it selected
    const m = drawn.m, stack = [...m.items[id].children];
    while (stack.length) { const c = m.items[stack.pop()]; state.open.delete(key(c)); stack.push(...c.children); }
    state.selected = key(m.items[id]);
    render(id);
    select(id);
  }

  // -- search ------------------------------------------------------------------------------
  function runSearch() {
    const text = search.value.trim().toLowerCase();
    state.query = text;
    state.matches = new Set();
    const m = model(state.view);
    if (text) {
      for (const it of m.items) {
        if (it.kind !== 'layer' && it.kind !== 'op' && it.kind !== 'input') continue;
        if (it.name.toLowerCase().includes(text) || (it.details.search || '').includes(text)) state.matches.add(it.id);
      }
      for (const id of [...state.matches]) { // an op whose layer matches is found through its layer
        const p = m.items[id].parent;
        if (m.items[id].kind === 'op' && state.matches.has(p)) state.matches.delete(id);
      }
      let changed = false, shown = 0;
      for (const id of state.matches) { // reveal the first matches hidden in folded groups
        if (shown++ >= 20) break;
        for (let p = m.items[id].parent; p >= 0; p = m.items[p].parent) {
          const k = key(m.items[p]);
          if (!state.open.has(k)) { state.open.add(k); changed = true; }
        }
      }
      if (changed) render(); else mark();
      const first = [...state.matches].find((id) => drawn.rep[id] === id);
      const el = first === undefined ? null : svg.querySelector('[data-item="' + first + '"]');
      if (el) el.scrollIntoView({ block: 'center', inline: 'center' });
      return;
    }
    mark();
  }
  function mark() {
    if (!svg) return;
    const hits = state.matches, rep = drawn.rep;
    const inside = new Set();
    for (const id of hits) if (rep[id] !== id) inside.add(rep[id]);
    for (const el of svg.querySelectorAll('[data-node],[data-group]')) {
      const id = +el.dataset.item;
      if (el.hasAttribute('data-node') && hits.has(id)) el.dataset.match = 'true'; else el.removeAttribute('data-match');
      if (inside.has(id)) el.dataset.hasMatch = 'true'; else el.removeAttribute('data-has-match');
    }
    count.textContent = state.query ? hits.size + (hits.size === 1 ? ' match' : ' matches') : '';
  }
  let timer = null;
  search.addEventListener('input', () => { // at once on small graphs, after a pause in typing on big ones
    clearTimeout(timer);
    if (model(state.view).items.length < 5000) runSearch(); else timer = setTimeout(runSearch, 150);
  });
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      const first = [...state.matches].find((id) => drawn.rep[id] === id);
      if (first !== undefined) { select(first); const el = svg.querySelector('[data-item="' + first + '"]'); if (el) el.scrollIntoView({ block: 'center', inline: 'center' }); }
    }
    if (e.key === 'Escape') { search.value = ''; runSearch(); search.blur(); }
  });

  // -- views, keys, buttons ----------------------------------------------------------------
  const gradBox = $('[data-role=toggle-grad]'), passBox = $('[data-role=toggle-passes]');
  function setView() {
    state.view = gradBox.checked ? 'grad' : passBox.checked ? 'passes' : 'layer';
    document.body.dataset.view = state.view;
    render();
    runSearch();
    const it = selectedItem();
    showDetails(it ? it.id : null);
    showCrumbs(it ? it.id : null);
  }
  for (const [box, other, name] of [[gradBox, passBox, 'grad'], [passBox, gradBox, 'passes']]) {
    if (!DATA.views[name]) { box.disabled = true; box.parentElement.title = (DATA.notes || []).join('; ') || 'not in this page'; continue; }
    box.addEventListener('change', () => { if (box.checked) other.checked = false; setView(); });
  }
  $('[data-role=zoom-in]').addEventListener('click', () => zoomBy(1.25));
  $('[data-role=zoom-out]').addEventListener('click', () => zoomBy(0.8));
  $('[data-role=fit]').addEventListener('click', fit);
  $('[data-role=collapse-all]').addEventListener('click', () => { state.open.clear(); render(); fit(); });
  document.addEventListener('keydown', (e) => {
    if (e.target === search) return;
    const step = 80;
    const keys = {
      '+': () => zoomBy(1.25), '=': () => zoomBy(1.25), '-': () => zoomBy(0.8), '0': fit, 'f': fit,
      'ArrowLeft': () => { canvas.scrollLeft -= step; }, 'ArrowRight': () => { canvas.scrollLeft += step; },
      'ArrowUp': () => { canvas.scrollTop -= step; }, 'ArrowDown': () => { canvas.scrollTop += step; },
      '/': () => search.focus(), 'Escape': () => select(null),
      'Enter': () => { const it = selectedItem(); if (it && expandable(it)) toggle(it); },
      'Backspace': () => { const it = selectedItem(); if (it && it.parent >= 0) back(it.parent); },
    };
    if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
  });

  function showError(text) {
    const el = $('[data-role=error]');
    el.textContent = text;
    el.hidden = false;
    document.body.dataset.state = 'error';
  }

  // -- training pictures and live reload ----------------------------------------------------
  if (DATA.run) {
    const t = $('[data-role=training]');
    t.hidden = false;
    let h = '<h3>training: <code>' + esc(DATA.run.dir) + '</code></h3>';
    for (const [name, src] of Object.entries(DATA.run.images)) h += '<figure><img data-image="' + esc(name) + '" alt="' + esc(name) + '" src="' + src + '"><figcaption>' + esc(name) + '</figcaption></figure>';
    if (DATA.run.last) h += table(['metric', 'last epoch'], Object.entries(DATA.run.last).map(([k, v]) => [k, typeof v === 'number' ? v.toFixed(4) : v]));
    t.innerHTML = h;
  }
  if (DATA.serve) {
    const poll = () => fetch('/__graphc/version').then((r) => r.text()).then((v) => {
      if (v.trim() !== DATA.serve.version) location.reload(); else setTimeout(poll, 700);
    }).catch(() => setTimeout(poll, 2000));
    setTimeout(poll, 700);
  }

  window.graphcDot = () => buildDot(model(state.view)).dot; // the DOT of what is drawn now (bench/viz.py)

  // -- start -------------------------------------------------------------------------------
  $('[data-role=title]').textContent = DATA.title + ': ' + num(DATA.layers) + ' layers, ' + num(DATA.params) + ' parameters';
  showDetails(null);
  showCrumbs(null);
  Viz.instance().then((v) => { viz = v; render(); }).catch((err) => showError('cannot start Graphviz (WebAssembly): ' + err));
})();
