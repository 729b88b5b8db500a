// The authoring page: shows the server's state (cues with their verdicts) and sends
// edits. No rule is computed here: every number and verdict comes from the server.
'use strict';

const $ = (id) => document.getElementById(id);
const video = $('video'), voice = $('voice'), statusLine = $('status');
const tbody = document.querySelector('#cues tbody'), timeline = $('timeline');
let state = null;
let current = -1;       // the cue the shortcuts act on (-1: none yet)
let rendering = false;  // the table is being rebuilt: ignore the focus it loses
let context = null;     // the "play in context" in progress

function say(text, error = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle('error', error);
}

const fixed = (x, n = 2) => Number(x).toFixed(n);

function ruleText(c) {
  const broken = [];
  if (!c.in_gap) broken.push('over dialogue');
  if (!c.under_wpm) broken.push(`${Math.round(c.wpm)} WPM, limit 300`);
  if (!c.after_previous) broken.push('overlaps the previous cue');
  const strict = c.over_dialogue && c.in_gap ? "; but speaks over dialogue (inside the rule's 1 s collar)" : '';
  return (broken.length ? 'fails: ' + broken.join('; ') : 'passes') + strict;
}

function speechText(c) {
  const room = `${fixed(c.room_s, 1)} s`;
  let said;
  switch (c.fit) {
    case 'fits': said = `fits its ${room} at ${c.rate_wpm} wpm`; break;
    case 'rate': said = `fits its ${room} faster, at ${c.rate_wpm} wpm`; break;
    case 'tempo': said = `fits its ${room} at ${c.rate_wpm} wpm, tempo ${fixed(c.tempo)}x`; break;
    case 'rephrased': said = `fits its ${room} once cut, at ${c.rate_wpm} wpm`; break;
    case 'extended': said = `extended: the video pauses ${fixed(c.overflow_s)} s`; break;
    case 'skipped': return `render skips it: its ${room} holds too few words`;
    default: return `does not fit its ${room}: ${fixed(c.overflow_s)} s too long`;
  }
  return c.spoken === c.text ? said : `${said}; render says only "${c.spoken}"`;
}

const speechFails = (c) => c.fit === 'dropped' || c.fit === 'skipped' || c.spoken !== c.text;

function namesText(c) {
  if (!state.cast_known) return 'cast unknown';
  return c.not_in_cast.length ? 'not in cast: ' + c.not_in_cast.join(', ') : 'all in cast';
}

function cueSummary(i) {
  const c = state.cues[i];
  if (!c) return '';
  return `Cue ${i + 1}: ${c.words} words, ${Math.round(c.wpm)} WPM; rule ${ruleText(c)}; ` +
    `speech ${speechText(c)}` + (c.not_in_cast.length ? `; ${namesText(c)}` : '') + '.';
}

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function button(label, name, act, i) {
  return el('button', {type: 'button', 'aria-label': name, 'data-act': act, 'data-i': i}, label);
}

function row(c, i) {
  const n = i + 1;
  const tr = el('tr', {id: `cue-${i}`, 'data-i': i});
  if (i === current) tr.classList.add('current');
  const head = el('th', {scope: 'row'});
  const go = button(String(n), `Cue ${n} at ${fixed(c.start)} seconds: go to it`, 'goto', i);
  go.id = `cue-${i}-goto`;
  head.append(go);
  tr.append(head);
  for (const part of ['start', 'end']) {
    const td = el('td');
    td.append(el('input', {type: 'number', step: '0.1', min: '0', class: `time ${part}`,
      id: `cue-${i}-${part}`, 'data-i': i, 'aria-label': `Cue ${n} ${part}, seconds`,
      value: fixed(c[part], 3)}));
    tr.append(td);
  }
  const text = el('td');
  text.append(el('input', {type: 'text', class: 'text', id: `cue-${i}-text`, 'data-i': i,
    'aria-label': `Cue ${n} description`, value: c.text}));
  tr.append(text);
  tr.append(el('td', {class: 'num'}, String(c.words)));
  tr.append(el('td', {class: 'num'}, fixed(c.wpm, 1)));
  tr.append(el('td', {class: c.realistic && !c.over_dialogue ? 'pass rule' : 'fail rule'}, ruleText(c)));
  tr.append(el('td', {class: speechFails(c) ? 'fail speech' : 'pass speech'},
    speechText(c) + (c.not_in_cast.length ? '; ' + namesText(c) : '')));
  const actions = el('td', {class: 'actions'});
  actions.append(
    button('Play', `Play cue ${n}`, 'speak', i),
    button('In context', `Play cue ${n} in context`, 'context', i),
    button('Split', `Split cue ${n}`, 'split', i),
    button('Merge', `Merge cue ${n} with the next`, 'merge', i),
    button('Delete', `Delete cue ${n}`, 'delete', i));
  const label = el('label');
  const box = el('input', {type: 'checkbox', class: 'extended', 'data-i': i,
    'aria-label': `Cue ${n} extended (the video may pause for it)`});
  box.checked = c.extended;
  label.append(box, ' Extended');
  actions.append(label);
  tr.append(actions);
  return tr;
}

function drawTimeline() {
  for (const bar of timeline.querySelectorAll('.bar')) bar.remove();
  const span = Math.max(state.duration, 1e-3);
  const place = (bar, a, b) => {
    bar.style.left = (100 * a / span) + '%';
    bar.style.width = Math.max(0.3, 100 * (b - a) / span) + '%';
  };
  for (const [a, b] of state.dialogue) {
    const bar = el('div', {class: 'bar dialogue'});
    place(bar, a, b);
    timeline.append(bar);
  }
  state.cues.forEach((c, i) => {
    const bar = el('div', {class: 'bar ad' + (c.realistic && !c.over_dialogue ? '' : ' bad') +
      (i === current ? ' current' : ''), 'data-i': i, title: c.text});
    place(bar, c.start, c.end);
    timeline.append(bar);
  });
}

function refreshTrack() {
  const old = $('track');
  const track = el('track', {id: 'track', kind: 'descriptions', srclang: 'en',
    label: 'Audio description', src: `track.vtt?r=${state.revision}`, default: ''});
  old.replaceWith(track);
  track.track.mode = 'hidden';
}

function show(next, focusId = null) {
  const focused = focusId || (document.activeElement && document.activeElement.id);
  const firstLoad = state === null;
  state = next;
  current = Math.min(current, Math.max(0, state.cues.length - 1));
  rendering = true;
  tbody.replaceChildren(...state.cues.map(row));
  rendering = false;
  drawTimeline();
  if (!firstLoad) refreshTrack();
  const passing = state.cues.filter((c) => c.realistic).length;
  $('summary').textContent = `${state.cues.length} cues, ${passing} pass the realistic ` +
    `rule; voice ${state.voice}; revision ${state.revision}.`;
  $('undo').disabled = !state.can_undo;
  $('redo').disabled = !state.can_redo;
  if (focused && $(focused)) $(focused).focus();
}

async function load() {
  const response = await fetch('api/state');
  show(await response.json());
}

// Requests go one after another (a field saved on blur, then the button that took the
// focus): each is sent with the revision the previous one left.
let queue = Promise.resolve();
function post(path, payload = {}, then = null) {
  const run = queue.then(() => send(path, payload, then));
  queue = run.catch(() => false);
  return run;
}

async function send(path, payload, then) {
  try {
    const response = await fetch(path, {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({revision: state.revision, ...payload})});
    const data = await response.json();
    if (response.status === 409) {
      await load();
      say(data.error + ' The page now shows it.', true);
      return false;
    }
    if (!response.ok) { say(data.error, true); return false; }
    const focusId = then ? then(data.state) : null;
    show(data.state, focusId);
    say(`${data.said}. ${cueSummary(current)}`);
    return true;
  } catch (err) {
    say(`The server did not answer (${err}). Nothing was changed.`, true);
    return false;
  }
}

function indexOfStart(s, start) {
  let best = 0;
  s.cues.forEach((c, i) => { if (Math.abs(c.start - start) < Math.abs(s.cues[best].start - start)) best = i; });
  return best;
}

function edit(op, args, focusPart = null) {
  return post('api/edit', {op, ...args}, (s) => {
    if (args.start !== undefined) current = indexOfStart(s, Number(args.start));
    else if (op === 'delete') current = Math.min(args.index, s.cues.length - 1);
    else if (args.index !== undefined) current = args.index;
    return focusPart ? `cue-${current}-${focusPart}` : `cue-${current}-goto`;
  });
}

function commitText(input) {
  const i = Number(input.dataset.i);
  if (input.value.trim() === state.cues[i].text || input.dataset.sent === input.value) return;
  input.dataset.sent = input.value;  // Enter then blur: one edit, not two
  edit('text', {index: i, text: input.value}, 'text');
}

function commitTimes(input, focusPart) {
  const i = Number(input.dataset.i);
  const start = $(`cue-${i}-start`).value, end = $(`cue-${i}-end`).value;
  const c = state.cues[i];
  if (Number(start) === Number(fixed(c.start, 3)) && Number(end) === Number(fixed(c.end, 3))) return;
  if (input.dataset.sent === `${start} ${end}`) return;
  input.dataset.sent = `${start} ${end}`;
  edit('times', {index: i, start: Number(start), end: Number(end)}, focusPart);
}

function setCurrent(i, seek) {
  if (!state.cues.length) return;
  current = Math.max(0, Math.min(i, state.cues.length - 1));
  for (const tr of tbody.querySelectorAll('tr.current')) tr.classList.remove('current');
  $(`cue-${current}`).classList.add('current');
  drawTimeline();
  if (seek) video.currentTime = state.cues[current].start;
}

async function speak(i) {
  setCurrent(i, false);
  const response = await fetch(`api/speech/${i}?r=${state.revision}`);
  if (!response.ok) { say((await response.json()).error, true); return null; }
  voice.src = URL.createObjectURL(await response.blob());
  return voice;
}

async function playCue(i) {
  if (await speak(i)) { say(`Playing cue ${i + 1}: ${state.cues[i].text}`); voice.play(); }
}

async function playInContext(i) {
  const c = state.cues[i];
  if (!(await speak(i))) return;
  const ducked = Math.pow(10, -state.duck_db / 20);
  context = {cue: c, started: false};
  video.volume = 1;
  video.currentTime = Math.max(0, c.start - 2);
  say(`Playing cue ${i + 1} in context, from ${fixed(Math.max(0, c.start - 2))} s.`);
  video.play();
  const tick = () => {
    if (!context || context.cue !== c) return;
    if (!context.started && video.currentTime >= c.start) {
      context.started = true;
      video.volume = ducked;  // the soundtrack dips under the description, as in the mix
      voice.play();
    }
    if (context.started && voice.ended) video.volume = 1;
    if (video.currentTime >= c.end + 2 || video.paused) {
      video.pause(); video.volume = 1; context = null; return;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

tbody.addEventListener('click', (event) => {
  const b = event.target.closest('button');
  if (!b) return;
  const i = Number(b.dataset.i);
  switch (b.dataset.act) {
    case 'goto': setCurrent(i, true); say(cueSummary(i)); break;
    case 'speak': playCue(i); break;
    case 'context': playInContext(i); break;
    case 'split': edit('split', {index: i}); break;
    case 'merge': edit('merge', {index: i}); break;
    case 'delete': edit('delete', {index: i}); break;
  }
});

tbody.addEventListener('change', (event) => {
  const box = event.target;
  if (box.classList.contains('extended')) {
    edit('extended', {index: Number(box.dataset.i), on: box.checked});
  }
});

tbody.addEventListener('focusin', (event) => {
  const tr = event.target.closest('tr');
  if (tr && Number(tr.dataset.i) !== current) setCurrent(Number(tr.dataset.i), false);
});

tbody.addEventListener('keydown', (event) => {
  const input = event.target;
  if (input.tagName !== 'INPUT' || input.type === 'checkbox') return;
  const i = Number(input.dataset.i);
  if (event.key === 'Enter') {
    event.preventDefault();
    if (input.classList.contains('text')) commitText(input);
    else commitTimes(input, input.classList.contains('start') ? 'start' : 'end');
  } else if (event.key === 'Escape') {
    event.preventDefault();
    const c = state.cues[i];
    input.value = input.classList.contains('text') ? c.text
      : fixed(input.classList.contains('start') ? c.start : c.end, 3);
    say(`Cue ${i + 1}: change cancelled.`);
    $(`cue-${i}-goto`).focus();
  }
});

tbody.addEventListener('focusout', (event) => {
  if (rendering) return;
  const input = event.target;
  if (input.tagName !== 'INPUT' || input.type === 'checkbox') return;
  if (input.classList.contains('text')) { commitText(input); return; }
  const other = event.relatedTarget;  // moving between start and end: one edit, on leaving
  if (other && other.classList && other.classList.contains('time') &&
      other.dataset.i === input.dataset.i) return;
  commitTimes(input, null);
});

$('undo').addEventListener('click', () => post('api/undo'));
$('redo').addEventListener('click', () => post('api/redo'));
$('add').addEventListener('click', () => {
  const start = Math.min(video.currentTime, Math.max(0, state.duration - 1));
  edit('add', {start, end: Math.min(state.duration, start + 2), text: 'New description.'}, 'text');
});
$('render').addEventListener('click', async () => {
  say('Rendering: speech, mix, tracks and pages. This takes a few seconds.');
  for (const b of document.querySelectorAll('.toolbar button')) b.disabled = true;
  const done = await post('api/render');
  if (!done) show(state);
});

// Mouse: drag a description on the timeline to move it, drag its edges to resize it.
let drag = null;
timeline.addEventListener('pointerdown', (event) => {
  const rect = timeline.getBoundingClientRect();
  const at = (event.clientX - rect.left) / rect.width * state.duration;
  const bar = event.target.closest('.ad');
  if (!bar) { video.currentTime = Math.max(0, at); return; }
  const i = Number(bar.dataset.i), c = state.cues[i], box = bar.getBoundingClientRect();
  const mode = event.clientX - box.left < 6 ? 'start' : box.right - event.clientX < 6 ? 'end' : 'move';
  drag = {i, mode, at, start: c.start, end: c.end, bar, rect};
  bar.setPointerCapture(event.pointerId);
});
timeline.addEventListener('pointermove', (event) => {
  if (!drag) return;
  const d = (event.clientX - drag.rect.left) / drag.rect.width * state.duration - drag.at;
  drag.newStart = drag.mode === 'end' ? drag.start : Math.max(0, drag.start + d);
  drag.newEnd = drag.mode === 'start' ? drag.end : Math.min(state.duration, drag.end + d);
  drag.bar.style.left = (100 * drag.newStart / state.duration) + '%';
  drag.bar.style.width = (100 * (drag.newEnd - drag.newStart) / state.duration) + '%';
});
timeline.addEventListener('pointerup', () => {
  const done = drag;
  drag = null;
  if (done && done.newStart !== undefined) {
    edit('times', {index: done.i, start: Number(fixed(done.newStart, 3)), end: Number(fixed(done.newEnd, 3))});
  }
});

video.addEventListener('timeupdate', () => {
  $('playhead').style.left = (100 * video.currentTime / Math.max(state ? state.duration : 1, 1e-3)) + '%';
});

const inField = (t) => t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable;

document.addEventListener('keydown', (event) => {
  if (!state) return;
  const key = event.key.toLowerCase();
  if ((event.ctrlKey || event.metaKey) && !inField(event.target)) {
    if (key === 'z' && !event.shiftKey) { event.preventDefault(); post('api/undo'); }
    else if (key === 'y' || (key === 'z' && event.shiftKey)) { event.preventDefault(); post('api/redo'); }
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey || inField(event.target)) return;
  const focusCue = (i) => { setCurrent(i, true); $(`cue-${current}-goto`).focus(); say(cueSummary(current)); };
  if (current < 0 && 'etsc'.includes(key)) setCurrent(0, false);
  const actions = {
    k: () => { if (video.paused) video.play(); else video.pause(); say(video.paused ? 'Paused.' : 'Playing.'); },
    j: () => { video.currentTime = Math.max(0, video.currentTime - 2); say(`At ${fixed(video.currentTime, 1)} s.`); },
    l: () => { video.currentTime = Math.min(state.duration, video.currentTime + 2); say(`At ${fixed(video.currentTime, 1)} s.`); },
    n: () => focusCue(current + 1),
    p: () => focusCue(current - 1),
    e: () => $(`cue-${current}-text`) && $(`cue-${current}-text`).focus(),
    t: () => $(`cue-${current}-start`) && $(`cue-${current}-start`).focus(),
    s: () => playCue(current),
    c: () => playInContext(current),
    a: () => $('add').click(),
  };
  if (actions[key] && state.cues.length + (key === 'a' ? 1 : 0) > 0) {
    event.preventDefault();
    actions[key]();
  }
});

load().then(() => say(`Loaded ${state.cues.length} cues. Press N for the first cue, E to edit it.`));
