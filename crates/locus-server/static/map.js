// The map of a view: MapLibre GL JS (served from this origin, from the npm
// registry at build time) draws the view's dashboard indicators at a
// granularity, over Natural Earth country outlines (or the operator's tiles).
// Data comes from the page's own JSON routes, through the visitor's session,
// already filtered by the visitor's data permissions. On a shared map
// (`data-public`), the share link's token rides in the fragment: it is
// exchanged for a short-lived public bearer that every read then carries. Text goes in with
// textContent only; colours through the CSSOM (the page's CSP forbids inline
// styles).
import * as maplibregl from '/static/vendor/maplibre-gl.mjs';

maplibregl.setWorkerUrl('/static/vendor/maplibre-gl-worker.mjs');

const root = document.getElementById('map-view');
const status = document.getElementById('map-status');
const hover = document.getElementById('hover');
const granularity = document.getElementById('granularity');
const indicatorList = document.getElementById('indicators');
const legend = document.getElementById('legend');

// The indicator scales, low to high (ColorBrewer-like ramps): five classes,
// two for the binary ones; the diverging ones `WithZero` split at zero.
const DIVERGING = ['#d7191c', '#fdae61', '#ffffbf', '#a6d96a', '#1a9641'];
const SCALES = {
  standard: ['#edf8e9', '#bae4b3', '#74c476', '#31a354', '#006d2c'],
  positive: ['#eff3ff', '#bdd7e7', '#6baed6', '#3182bd', '#08519c'],
  negative: ['#fee5d9', '#fcae91', '#fb6a4a', '#de2d26', '#a50f15'],
  inverse: ['#006d2c', '#31a354', '#74c476', '#bae4b3', '#edf8e9'],
  binaryStandard: ['#bae4b3', '#31a354'],
  binaryNegative: ['#fcae91', '#de2d26'],
  divergingStandard: DIVERGING,
  divergingNegative: DIVERGING.slice().reverse(),
  divergingWithZeroStandard: DIVERGING,
  divergingWithZeroNegative: DIVERGING.slice().reverse(),
  traffic: DIVERGING.slice().reverse(),
  trafficInverse: DIVERGING,
  heat: ['#ffffb2', '#fecc5c', '#fd8d3c', '#f03b20', '#bd0026'],
  heatmap: ['#ffffb2', '#fecc5c', '#fd8d3c', '#f03b20', '#bd0026'],
  viridis: ['#440154', '#3b528b', '#21918c', '#5ec962', '#fde725'],
  magma: ['#000004', '#51127c', '#b73779', '#fc8961', '#fcfdbf']
};
const NO_VALUE = '#cccccc';

const state = { config: null, indicator: null, dataset: null, visualization: null, filters: [], map: null, fitted: false, bearer: null };
const visualization = document.getElementById('visualization');
// How each kind of dataset can be drawn; the first is the default.
const VISUALIZATIONS = { geometryPoint: ['dotmap', 'heatmap', 'grid'], geometryPolygon: ['areas'], geometryLine: ['line'] };
const VISUALIZATION_TITLES = { dotmap: 'Dots', heatmap: 'Heat map', grid: 'Hexagons (H3)', areas: 'Areas', line: 'Lines' };
const shareToken = root.dataset.public === 'true' ? new URLSearchParams(window.location.hash.slice(1)).get('token') : null;
// The view's JSON routes: `{view}/map`, `/features`, `/values`, `/options`, `/search`, `/drill`.
const routes = (name) => root.dataset.view + '/' + name;

function setStatus(text, ready) {
  status.textContent = text;
  root.dataset.state = ready ? 'ready' : 'loading';
}

function getJson(url) {
  const headers = { accept: 'application/json' };
  if (state.bearer) { headers.authorization = 'Bearer ' + state.bearer; }
  return fetch(url, { credentials: 'same-origin', headers }).then((r) => {
    if (!r.ok) {
      return r.json().catch(() => ({})).then((body) => {
        throw new Error(body.message || ('the server answered ' + r.status));
      });
    }
    return r.json();
  });
}

function format(value, indicator) {
  if (value === null || value === undefined) { return '–'; }
  const f = (indicator && indicator.format) || {};
  const digits = Number.isInteger(f.fraction) ? f.fraction : (Math.abs(value) < 10 ? 2 : 0);
  const shown = f.type === 'percentage' ? value * 100 : value;
  let text = Number(shown).toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
  if (f.type === 'percentage') { text += ' %'; }
  if (f.symbol) { text = f.symbol + ' ' + text; }
  return text;
}

// Class breaks of the values into `classes` classes: quantiles (geometric,
// the default) or equal intervals (uniform); a scale that splits at zero
// gets intervals symmetric around it.
function breaks(values, distribution, classes, aroundZero) {
  const sorted = values.filter((v) => typeof v === 'number' && isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) { return []; }
  const out = [];
  const reach = Math.max(Math.abs(sorted[0]), Math.abs(sorted[sorted.length - 1]));
  for (let k = 1; k < classes; k++) {
    if (aroundZero) {
      out.push(-reach + 2 * reach * k / classes);
    } else if (distribution === 'uniform') {
      out.push(sorted[0] + (sorted[sorted.length - 1] - sorted[0]) * k / classes);
    } else {
      out.push(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * k / classes))]);
    }
  }
  // MapLibre's step expression needs strictly ascending stops.
  return out.filter((b, i) => i === 0 || b > out[i - 1]);
}

function colorExpression(cuts, colors) {
  if (cuts.length === 0) { return NO_VALUE; }
  const step = ['step', ['to-number', ['get', 'value']], colors[0]];
  cuts.forEach((b, i) => { step.push(b, colors[Math.min(colors.length - 1, i + 1)]); });
  return ['case', ['==', ['get', 'value'], null], NO_VALUE, step];
}

function drawLegend(cuts, colors, indicator) {
  legend.replaceChildren();
  const bounds = [null].concat(cuts);
  bounds.forEach((low, i) => {
    const row = document.createElement('div');
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = colors[Math.min(colors.length - 1, i)];
    row.append(swatch);
    const high = i < cuts.length ? cuts[i] : null;
    const text = low === null ? ('< ' + format(high, indicator)) : (high === null ? ('≥ ' + format(low, indicator)) : (format(low, indicator) + ' – ' + format(high, indicator)));
    row.append(document.createTextNode(cuts.length === 0 ? 'no values' : text));
    legend.append(row);
  });
}

function saveHash() {
  const map = state.map;
  const c = map.getCenter();
  const params = new URLSearchParams();
  if (state.indicator) { params.set('indicator', state.indicator.name); }
  if (state.dataset) { params.set('dataset', state.dataset); }
  if (state.visualization) { params.set('vis', state.visualization); }
  params.set('map', [map.getZoom().toFixed(2), c.lat.toFixed(5), c.lng.toFixed(5)].join('/'));
  if (shareToken) { params.set('token', shareToken); }
  history.replaceState(null, '', '#' + params.toString());
  // What the page's share and save buttons send.
  const saved = JSON.stringify({ indicator: state.indicator && state.indicator.name, dataset: state.dataset,
    map: params.get('map'), filters: state.filters });
  document.querySelectorAll('input[data-map-state]').forEach((input) => { input.value = saved; });
}

function readHash() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  // A share link (`?shareId=`) carries its state in the page; the URL's own wins.
  const shared = document.getElementById('shared-state');
  if (shared && !params.has('map')) {
    try {
      const s = JSON.parse(shared.textContent);
      ['indicator', 'dataset', 'map'].forEach((k) => { if (typeof s[k] === 'string') { params.set(k, s[k]); } });
    } catch (e) { /* a state from another client: opened at the view's defaults */ }
  }
  const position = (params.get('map') || '').split('/').map(Number);
  return {
    indicator: params.get('indicator'),
    dataset: params.get('dataset'),
    visualization: params.get('vis'),
    position: position.length === 3 && position.every(isFinite) ? position : null
  };
}

function featureLayers(kind) {
  if (kind === 'Point' || kind === 'MultiPoint') {
    return [{ id: 'features-fill', type: 'circle', source: 'features', paint: { 'circle-radius': 6, 'circle-stroke-width': 1, 'circle-stroke-color': '#333', 'circle-color': NO_VALUE } }];
  }
  if (kind === 'LineString' || kind === 'MultiLineString') {
    return [{ id: 'features-fill', type: 'line', source: 'features', paint: { 'line-width': 3, 'line-color': NO_VALUE } }];
  }
  return [
    { id: 'features-fill', type: 'fill', source: 'features', paint: { 'fill-color': NO_VALUE, 'fill-opacity': 0.75 } },
    { id: 'features-line', type: 'line', source: 'features', paint: { 'line-color': '#555', 'line-width': 0.5 } }
  ];
}

// The box around a GeoJSON collection, [west, south, east, north]; null when empty.
function boundsOf(collection) {
  let west = 180, south = 90, east = -180, north = -90;
  const visit = (c) => {
    if (typeof c[0] === 'number') {
      west = Math.min(west, c[0]); east = Math.max(east, c[0]);
      south = Math.min(south, c[1]); north = Math.max(north, c[1]);
    } else { c.forEach(visit); }
  };
  collection.features.forEach((f) => visit(f.geometry.coordinates));
  return west <= east ? [west, south, east, north] : null;
}

// The ways the current dataset can be drawn, in the select; keeps the
// current one when it still applies, else the view's default, else the first.
function listVisualizations(wanted) {
  const d = state.config.datasets.find((x) => x.name === state.dataset);
  const options = VISUALIZATIONS[d && d.subtype] || ['areas'];
  visualization.replaceChildren();
  options.forEach((v) => {
    const option = document.createElement('option');
    option.value = v;
    option.textContent = VISUALIZATION_TITLES[v];
    visualization.append(option);
  });
  const pick = [wanted, state.visualization, state.config.visualization].find((v) => options.includes(v));
  state.visualization = pick || options[0];
  visualization.value = state.visualization;
}

// The H3 resolution of hexagons at the map's zoom: cells a few dozen pixels across.
function gridResolution() {
  return Math.max(0, Math.min(12, Math.round(state.map.getZoom() * 0.75)));
}

// What the map draws of the current dataset: polygons and lines as vector
// tiles (simplified for each zoom, values joined in by the server) after a
// summary of the layer (how many, the values for the legend, the bounds);
// points, heat maps and hexagons as one GeoJSON collection.
function fetchLayer(params) {
  if (state.visualization === 'areas' || state.visualization === 'line') {
    return getJson(routes('layer') + '?' + params.toString()).then((summary) => ({
      kind: state.visualization === 'line' ? 'LineString' : 'Polygon',
      count: summary.count,
      values: summary.values,
      bounds: summary.bounds,
      source: { type: 'vector', tiles: [new URL(routes('tiles'), window.location.href).href + '/{z}/{x}/{y}?' + params.toString()], maxzoom: 16 }
    }));
  }
  return getJson(routes('features') + '?' + params.toString()).then((collection) => ({
    kind: collection.features.length ? collection.features[0].geometry.type : 'Polygon',
    count: collection.features.length,
    values: collection.features.map((f) => f.properties.value),
    bounds: boundsOf(collection),
    source: { type: 'geojson', data: collection }
  }));
}

// The query string of the current layer: dataset, indicator, filters and,
// for hexagons, the resolution at the map's zoom.
function layerParams() {
  const params = new URLSearchParams({ dataset: state.dataset, filters: JSON.stringify(state.filters) });
  if (state.indicator) { params.set('indicator', state.indicator.name); }
  if (state.visualization === 'grid') {
    state.gridResolution = gridResolution();
    params.set('grid', String(state.gridResolution));
  }
  return params;
}

// Draws the current layer; `fetched`, when given, is the layer already asked for.
function draw(fetched) {
  const indicator = state.indicator;
  const heat = state.visualization === 'heatmap';
  setStatus('Loading ' + state.dataset + '…', false);
  return (fetched || fetchLayer(layerParams())).then((drawn) => {
    const map = state.map;
    const kind = drawn.kind;
    state.kind = kind;
    ['features-line', 'features-fill'].forEach((id) => { if (map.getLayer(id)) { map.removeLayer(id); } });
    if (map.getSource('features')) { map.removeSource('features'); }
    map.addSource('features', drawn.source);
    const colors = SCALES[(indicator && indicator.scale) || 'standard'] || SCALES.standard;
    const values = drawn.values;
    const scale = (indicator && indicator.scale) || 'standard';
    const cuts = breaks(values, indicator && indicator.distribution, colors.length, scale.startsWith('divergingWithZero'));
    // Under the markers, whose layers come later.
    const below = (map.getStyle().layers.find((l) => l.id.startsWith('marker-')) || {}).id;
    if (heat) {
      // Each point weighs its value against the largest (1 without values).
      const top = Math.max(0, ...values.filter((v) => typeof v === 'number'));
      const weight = top > 0 ? ['/', ['to-number', ['get', 'value'], 0], top] : 1;
      // The scale's colours spread evenly over the density.
      const ramp = ['interpolate', ['linear'], ['heatmap-density'], 0, 'rgba(0,0,0,0)'];
      colors.forEach((c, i) => ramp.push((i + 1) / colors.length, c));
      map.addLayer({ id: 'features-fill', type: 'heatmap', source: 'features', paint: {
        'heatmap-weight': weight, 'heatmap-radius': 24, 'heatmap-opacity': 0.8, 'heatmap-color': ramp } }, below);
    } else {
      // A tiled source keeps its features in the tiles' one layer.
      const tiled = drawn.source.type === 'vector' ? { 'source-layer': 'features' } : {};
      featureLayers(kind).forEach((layer) => map.addLayer(Object.assign(layer, tiled), below));
      const paint = kind.includes('Point') ? 'circle-color' : (kind.includes('Line') ? 'line-color' : 'fill-color');
      map.setPaintProperty('features-fill', paint, colorExpression(cuts, colors));
    }
    drawLegend(cuts, colors, indicator);
    if (!state.fitted && !readHash().position && drawn.bounds) {
      const [west, south, east, north] = drawn.bounds;
      map.fitBounds([[west, south], [east, north]], { padding: 40, maxZoom: 12, duration: 0 });
    }
    state.fitted = true;
    saveHash();
    return new Promise((resolve) => map.once('idle', () => {
      const what = state.visualization === 'grid' ? ' hexagons of ' : (heat ? ' points (heat map) of ' : ' features of ');
      setStatus(drawn.count + what + state.dataset + (indicator ? ', ' + indicator.title : ''), true);
      resolve();
    }));
  }).catch((e) => setStatus('The map could not be drawn: ' + e.message, true));
}

function showValues() {
  const params = new URLSearchParams({ filters: JSON.stringify(state.filters) });
  return getJson(routes('values') + '?' + params.toString()).then((values) => {
    values.forEach((v) => {
      const cell = indicatorList.querySelector('[data-indicator="' + CSS.escape(v.name) + '"] .value');
      const indicator = state.config.indicators.find((i) => i.name === v.name);
      if (cell) { cell.textContent = v.error ? '!' : format(v.value, indicator); }
    });
  });
}

function listIndicators() {
  indicatorList.replaceChildren();
  state.config.indicators.forEach((indicator) => {
    const item = document.createElement('li');
    item.dataset.indicator = indicator.name;
    const button = document.createElement('button');
    button.type = 'button';
    button.setAttribute('aria-pressed', String(state.indicator === indicator));
    const title = document.createElement('span');
    title.textContent = indicator.title;
    const value = document.createElement('span');
    value.className = 'value';
    value.textContent = '…';
    button.append(title, value);
    button.addEventListener('click', () => {
      state.indicator = indicator;
      indicatorList.querySelectorAll('button').forEach((b) => b.setAttribute('aria-pressed', String(b === button)));
      draw();
    });
    item.append(button);
    indicatorList.append(item);
  });
  if (state.config.indicators.length === 0) {
    const item = document.createElement('li');
    item.className = 'hint';
    item.textContent = 'The view\'s dashboard has no indicators.';
    indicatorList.append(item);
  }
}

function listLocked() {
  const list = document.getElementById('locked-filters');
  list.replaceChildren();
  state.config.lockedFilters.forEach((f) => {
    const item = document.createElement('li');
    item.title = 'A data permission: it applies to everything you see and cannot be removed.';
    const value = Array.isArray(f.value) ? f.value.join(', ') : (f.value === undefined ? '' : String(f.value));
    item.textContent = 'Data permission: ' + (f.property || 'filter') + ' ' + f.operator + ' ' + value;
    list.append(item);
  });
}

// The view's filterGroup: each control turns into FilterBy objects; a change
// re-queries the map and the indicator values.
const filterForm = document.getElementById('filters');
const controls = [];

function defaultsOf(filter) {
  const active = (state.config.activeFilters || []).find((a) => a.type === filter.type && a.property === filter.property);
  return active ? active.defaultValues || {} : {};
}

function collectFilters() {
  state.filters = controls.flatMap((c) => c.read());
}

function applyFilters() {
  collectFilters();
  draw();
  showValues();
}

function fieldset(filter) {
  const set = document.createElement('fieldset');
  set.dataset.property = filter.property;
  const legendText = document.createElement('legend');
  legendText.textContent = filter.title || filter.property;
  set.append(legendText);
  filterForm.append(set);
  return set;
}

function addSelect(filter, multiple) {
  const set = fieldset(filter);
  const defaults = defaultsOf(filter);
  const chosen = new Set((multiple ? defaults.values || [] : (defaults.value === undefined ? [] : [defaults.value])).map(String));
  const inputs = [];
  controls.push({
    read: () => {
      const values = inputs.filter((i) => i.checked && i.value !== '').map((i) => i.dataset.raw ? JSON.parse(i.dataset.raw) : i.value);
      return values.length ? [{ property: filter.property, operator: 'in', value: values }] : [];
    }
  });
  return getJson(routes('options') + '?' + new URLSearchParams({ property: filter.property })).then((values) => {
    const group = 'f' + controls.length;
    if (!multiple) {
      values = [''].concat(values);
    }
    values.forEach((v) => {
      const label = document.createElement('label');
      const input = document.createElement('input');
      input.type = multiple ? 'checkbox' : 'radio';
      input.name = group + filter.property;
      input.value = v === '' ? '' : String(v);
      input.dataset.raw = v === '' ? '' : JSON.stringify(v);
      input.checked = v === '' ? chosen.size === 0 : chosen.has(String(v));
      input.addEventListener('change', applyFilters);
      inputs.push(input);
      label.append(input, document.createTextNode(' ' + (v === '' ? 'any' : String(v))));
      set.append(label);
    });
  });
}

function addRange(filter, kind) {
  const set = fieldset(filter);
  const defaults = defaultsOf(filter);
  const make = (name, initial) => {
    const input = document.createElement('input');
    input.type = kind;
    input.name = name;
    input.setAttribute('aria-label', (filter.title || filter.property) + ' ' + name);
    if (initial !== undefined && initial !== null) { input.value = initial; }
    input.addEventListener('change', applyFilters);
    set.append(input);
    return input;
  };
  const values = defaults.values || [];
  const low = make('from', kind === 'date' ? (defaults.startDate || {}).value : values[0]);
  const high = make('to', kind === 'date' ? (defaults.endDate || {}).value : values[1]);
  controls.push({
    read: () => {
      const out = [];
      const cast = (v) => (kind === 'number' ? Number(v) : v);
      if (low.value !== '') { out.push({ property: filter.property, operator: 'gte', value: cast(low.value) }); }
      if (high.value !== '') { out.push({ property: filter.property, operator: 'lte', value: cast(high.value) }); }
      return out;
    }
  });
  return Promise.resolve();
}

function listFilters() {
  const pending = (state.config.filters || []).map((filter) => {
    switch (filter.type) {
      case 'multiSelect': return addSelect(filter, true);
      case 'singleSelect': return addSelect(filter, false);
      case 'date': case 'globalDate': return addRange(filter, 'date');
      case 'histogram': return addRange(filter, 'number');
      default: return Promise.resolve();
    }
  });
  return Promise.all(pending).then(collectFilters);
}

// Search: features of the shown dataset by title; a hit flies the map to it.
function setUpSearch() {
  const form = document.getElementById('search');
  const input = document.getElementById('search-text');
  const hits = document.getElementById('search-hits');
  let timer = null;
  const run = () => {
    const text = input.value.trim();
    if (text.length < 2) { hits.replaceChildren(); return; }
    getJson(routes('search') + '?' + new URLSearchParams({ dataset: state.dataset, query: text })).then((found) => {
      hits.replaceChildren();
      found.forEach((hit) => {
        const item = document.createElement('li');
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'link';
        button.textContent = hit.title;
        button.addEventListener('click', () => {
          if (hit.bbox) {
            state.map.fitBounds([[hit.bbox[0], hit.bbox[1]], [hit.bbox[2], hit.bbox[3]]], { padding: 40, maxZoom: 14, duration: 0 });
          } else {
            state.map.jumpTo({ center: [hit.lng, hit.lat], zoom: 14 });
          }
          hover.textContent = hit.title;
          root.dataset.flown = String(hit.id);
        });
        item.append(button);
        hits.append(item);
      });
      if (found.length === 0) {
        const item = document.createElement('li');
        item.className = 'hint';
        item.textContent = 'Nothing found';
        hits.append(item);
      }
    }).catch((e) => { hits.replaceChildren(); hover.textContent = e.message; });
  };
  input.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(run, 250); });
  form.addEventListener('submit', (e) => { e.preventDefault(); run(); });
}

// The marker selector's markers: each a circle layer of its rows, on top.
function drawMarkers() {
  (state.config.markers || []).filter((m) => m.visible).forEach((marker, i) => {
    const params = new URLSearchParams({ dataset: marker.dataset, marker: marker.name });
    getJson(routes('features') + '?' + params.toString()).then((collection) => {
      const id = 'marker-' + i;
      state.map.addSource(id, { type: 'geojson', data: collection });
      state.map.addLayer({ id, type: 'circle', source: id, paint: { 'circle-radius': 5, 'circle-color': marker.color, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1.5 } });
      const item = document.createElement('div');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = marker.color;
      item.append(swatch, document.createTextNode(marker.title + ' (' + collection.features.length + ')'));
      item.dataset.marker = marker.name;
      document.getElementById('markers').append(item);
    }).catch((e) => { hover.textContent = marker.title + ': ' + e.message; });
  });
}

// A click drills into a feature: every indicator's value for it, and the
// blocks of the selected indicator's drill (categories, ranking).
function showDrill(properties) {
  const params = new URLSearchParams({ dataset: state.dataset, id: JSON.stringify(properties.id), filters: JSON.stringify(state.filters) });
  if (state.indicator) { params.set('indicator', state.indicator.name); }
  const panel = document.getElementById('drill');
  getJson(routes('drill') + '?' + params.toString()).then((drill) => {
    panel.hidden = false;
    document.getElementById('drill-title').textContent = properties.title || String(properties.id);
    const values = document.getElementById('drill-values');
    values.replaceChildren();
    drill.values.forEach((v) => {
      const item = document.createElement('li');
      item.dataset.indicator = v.name;
      item.textContent = v.title + ': ' + format(v.value, v);
      values.append(item);
    });
    const blocks = document.getElementById('drill-blocks');
    blocks.replaceChildren();
    drill.blocks.forEach((b) => {
      const block = document.createElement('div');
      block.className = 'drill-block';
      block.dataset.type = b.type;
      const title = document.createElement('h4');
      title.textContent = b.title;
      block.append(title);
      const list = document.createElement('ul');
      if (Array.isArray(b.rows)) {
        b.rows.forEach((r) => {
          const item = document.createElement('li');
          if (b.type === 'ranking') {
            item.textContent = r.value === null ? 'not ranked' : ('#' + r.value + ' of ' + r.of);
          } else if (b.type === 'distribution') {
            // A bucket of the values and how many features fall in it.
            item.textContent = format(r.from, state.indicator) + ' – ' + format(r.to, state.indicator) + ': ' + r.value;
            if (r.selected) { item.className = 'selected'; item.setAttribute('aria-current', 'true'); }
          } else {
            item.textContent = (r.label === null ? '(none)' : String(r.label)) + ': ' + format(r.value, state.indicator);
          }
          list.append(item);
        });
      } else if (b.rows && b.rows.error) {
        const item = document.createElement('li');
        item.textContent = b.rows.error;
        list.append(item);
      } else {
        const item = document.createElement('li');
        item.className = 'hint';
        item.textContent = 'This kind of block is not shown yet.';
        list.append(item);
      }
      block.append(list);
      blocks.append(block);
    });
    root.dataset.drilled = String(properties.id);
  }).catch((e) => { hover.textContent = e.message; });
}

function baseStyle(countries, tileUrl) {
  const sources = { countries: { type: 'geojson', data: countries } };
  const layers = [{ id: 'background', type: 'background', paint: { 'background-color': '#dfe9f3' } }];
  if (tileUrl) {
    sources.tiles = { type: 'raster', tiles: [tileUrl], tileSize: 256 };
    layers.push({ id: 'tiles', type: 'raster', source: 'tiles' });
  } else {
    layers.push({ id: 'land', type: 'fill', source: 'countries', paint: { 'fill-color': '#f7f5ef' } });
  }
  layers.push({ id: 'borders', type: 'line', source: 'countries', paint: { 'line-color': '#9a9a9a', 'line-width': 0.6 } });
  // No transitions: a new indicator's colours show at once, and the map is
  // idle (drawn) as soon as its tiles are.
  return { version: 8, sources, layers, transition: { duration: 0, delay: 0 } };
}

// A shared map's bearer, exchanged from the link's token (none for members).
function signIn() {
  if (root.dataset.public !== 'true') { return Promise.resolve(); }
  if (!shareToken) { return Promise.reject(new Error('this link is incomplete: it carries no access token')); }
  return fetch('/rest/oauth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refresh_token: shareToken }),
    credentials: 'omit'
  }).then((r) => {
    if (!r.ok) { throw new Error('this link does not open the map any more: it may have expired or been revoked'); }
    return r.json();
  }).then((body) => { state.bearer = body.access_token; });
}

function start() {
  signIn().then(() => Promise.all([getJson(routes('map')), getJson('/static/vendor/countries-110m.json')])).then(([config, topo]) => {
    state.config = config;
    if (root.dataset.public === 'true') {
      document.getElementById('view-title').textContent = config.title;
      document.title = config.title + ' · Locus';
    }
    const countries = window.topojson.feature(topo, topo.objects.countries);
    const wanted = readHash();
    config.datasets.forEach((d) => {
      const option = document.createElement('option');
      option.value = d.name;
      option.textContent = d.title;
      granularity.append(option);
    });
    state.dataset = config.datasets.some((d) => d.name === wanted.dataset) ? wanted.dataset : config.granularity;
    if (!state.dataset) {
      setStatus('No dataset of this project has a geometry or a location to draw.', true);
      return;
    }
    granularity.value = state.dataset;
    listVisualizations(wanted.visualization);
    state.indicator = config.indicators.find((i) => i.name === wanted.indicator) || config.indicators[0] || null;
    listLocked();
    listIndicators();
    const options = { container: 'map', style: baseStyle(countries, config.tileUrl), center: [15, 50], zoom: 3, attributionControl: false, fadeDuration: 0,
      // The map's own requests (tiles) carry a shared map's bearer too.
      transformRequest: (url) => (state.bearer && url.startsWith(window.location.origin + '/')
        ? { url, headers: { authorization: 'Bearer ' + state.bearer } } : { url }) };
    if (wanted.position) {
      options.zoom = wanted.position[0];
      options.center = [wanted.position[2], wanted.position[1]];
      state.fitted = true;
    }
    const map = new maplibregl.Map(options);
    state.map = map;
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }));
    map.on('moveend', saveHash);
    // A tile or source that fails says so, instead of leaving a blank map.
    map.on('error', (e) => { status.textContent = 'Part of the map could not be drawn: ' + (e.error && e.error.message ? e.error.message : 'unknown error'); });
    map.on('mousemove', 'features-fill', (e) => {
      const p = e.features[0].properties;
      hover.textContent = (p.title || p.id) + ': ' + format(p.value === 'null' ? null : p.value, state.indicator);
    });
    map.on('mouseleave', 'features-fill', () => { hover.textContent = ''; });
    // A hexagon is no row of the dataset: only features drill.
    map.on('click', 'features-fill', (e) => { if (state.visualization !== 'grid') { showDrill(e.features[0].properties); } });
    granularity.addEventListener('change', () => { state.dataset = granularity.value; state.fitted = false; listVisualizations(null); draw(); });
    visualization.addEventListener('change', () => { state.visualization = visualization.value; draw(); });
    // Hexagons follow the zoom: a new resolution redraws them. (Tiles of
    // lines and polygons come for each zoom by themselves.)
    map.on('zoomend', () => {
      if (state.visualization === 'grid' && gridResolution() !== state.gridResolution) { draw(); }
    });
    setUpSearch();
    // The filters, the panel's values and the layer are asked for while the
    // map loads; they are drawn once it has. When the map has drawn and the
    // panel shows its values, the page records how long the opening took
    // (`data-opened-ms`, from navigation), then swaps in detailed outlines.
    // Sources and layers may be added once the style is in (`style.load`),
    // before the base map's first frame (`load`).
    const loaded = new Promise((resolve) => map.once('style.load', resolve));
    // A failure on the way is the page's own catch below.
    return listFilters().then(() => {
      const values = showValues().catch((e) => { hover.textContent = e.message; });
      const layer = fetchLayer(layerParams());
      return loaded.then(() => {
        drawMarkers();
        return Promise.all([draw(layer), values]);
      });
    }).then(() => {
      root.dataset.openedMs = String(Math.round(performance.now()));
      // Should the detailed outlines not come, the coarse ones stay.
      getJson('/static/vendor/countries-50m.json').then((detailed) => {
        map.getSource('countries').setData(window.topojson.feature(detailed, detailed.objects.countries));
      }).catch(() => {});
    });
  }).catch((e) => setStatus('The map could not be opened: ' + e.message, true));
}

start();
