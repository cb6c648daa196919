// deskpulse's report pages: /ui/reports, /ui/reports/{id}, /ui/live, and the self-contained file
// of `deskpulse report show ID --format html`. Hand-written, no dependencies, no build step.
//
// The page the server sends holds no data. This script signs in (a token kept in sessionStorage
// for this tab only, or none when an SSO proxy in front adds the Authorization header), reads
// the figures from /graphql with the operations in #ui-queries, and draws them. The saved file
// carries the same operations' answers in #report-data and is drawn by the same code, offline.
// Everything is put on the page with textContent and DOM calls, never as HTML.
(function () {
  'use strict';

  const TOKEN_KEY = 'deskpulse.token';
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const LIVE_REFRESH_MS = 60 * 1000;
  const main = document.getElementById('main');

  // Anything the Content-Security-Policy refused, for whoever looks (the browser test does).
  document.addEventListener('securitypolicyviolation', (event) => {
    const seen = document.body.dataset.refused ? `${document.body.dataset.refused}; ` : '';
    document.body.dataset.refused = `${seen}${event.violatedDirective} ${event.blockedURI}`;
  });

  // ---- DOM helpers ---------------------------------------------------------------------------

  function node(namespace, tag, attributes, children) {
    const element = namespace ? document.createElementNS(namespace, tag) : document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'text') element.textContent = value;
      else if (name === 'class') element.setAttribute('class', value);
      else if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
      else element.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children || []) {
      if (child === null || child === undefined || child === false) continue;
      element.append(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return element;
  }
  const h = (tag, attributes, ...children) => node(null, tag, attributes, children);
  const s = (tag, attributes, ...children) => node(SVG_NS, tag, attributes, children);

  function show(...children) {
    main.replaceChildren(...children);
  }

  function setState(state) {
    document.body.dataset.state = state;
  }

  function notice(text, kind) {
    return h('p', { class: 'notice' + (kind ? ' ' + kind : ''), role: kind === 'error' ? 'alert' : null, text });
  }

  // ---- Formatting: units, thousands separators, durations as h/min ---------------------------

  const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const DASH = '–';

  function formatCount(value) {
    return value === null || value === undefined ? DASH : integer.format(value);
  }

  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined) return DASH;
    const minutes = Math.round(seconds / 60);
    if (minutes < 1) return '< 1 min';
    const hours = Math.floor(minutes / 60);
    const rest = minutes % 60;
    return hours === 0 ? `${rest} min` : `${integer.format(hours)} h ${String(rest).padStart(2, '0')} min`;
  }

  function formatPercent(share) {
    return share === null || share === undefined ? DASH : `${(share * 100).toFixed(1)} %`;
  }

  function formatScore(value) {
    return value === null || value === undefined ? DASH : value.toFixed(1);
  }

  function formatCsat(value) {
    return value === null || value === undefined ? DASH : `${value.toFixed(2)} / 5`;
  }

  // How each metric reads: its label and its unit.
  const METRICS = {
    TICKETS_OPENED: ['Tickets opened', 'count'],
    TICKETS_RESOLVED: ['Tickets resolved', 'count'],
    TICKETS_CLOSED: ['Tickets closed', 'count'],
    BACKLOG: ['Backlog at the end', 'count'],
    AWAITING_FIRST_RESPONSE: ['Awaiting a first response', 'count'],
    FIRST_RESPONSE_SECONDS_MEAN: ['First response, mean', 'duration'],
    FIRST_RESPONSE_SECONDS_MEDIAN: ['First response, median', 'duration'],
    FIRST_RESPONSE_SECONDS_P90: ['First response, 90th percentile', 'duration'],
    RESOLUTION_SECONDS_MEAN: ['Resolution, mean', 'duration'],
    RESOLUTION_SECONDS_MEDIAN: ['Resolution, median', 'duration'],
    RESOLUTION_SECONDS_P90: ['Resolution, 90th percentile', 'duration'],
    FIRST_RESOLUTION_SECONDS_MEAN: ['First resolution, mean', 'duration'],
    FIRST_RESOLUTION_SECONDS_MEDIAN: ['First resolution, median', 'duration'],
    FIRST_RESOLUTION_SECONDS_P90: ['First resolution, 90th percentile', 'duration'],
    RESOLUTION_RATE: ['Resolution rate', 'percent'],
    REOPEN_RATE: ['Reopen rate', 'percent'],
    CSAT_AVERAGE: ['CSAT average', 'csat'],
    CSAT_COUNT: ['CSAT ratings', 'count'],
    CSAT_SATISFIED_SHARE: ['Satisfied (rated 4 or 5)', 'percent'],
    INTERACTIONS: ['Interactions', 'count'],
  };

  // The summary's cards, in order.
  const SUMMARY = [
    'TICKETS_OPENED', 'TICKETS_RESOLVED', 'TICKETS_CLOSED', 'BACKLOG', 'AWAITING_FIRST_RESPONSE',
    'FIRST_RESPONSE_SECONDS_MEDIAN', 'FIRST_RESPONSE_SECONDS_P90', 'RESOLUTION_SECONDS_MEDIAN',
    'RESOLUTION_SECONDS_P90', 'RESOLUTION_RATE', 'REOPEN_RATE', 'CSAT_AVERAGE', 'CSAT_COUNT',
    'CSAT_SATISFIED_SHARE', 'INTERACTIONS',
  ];

  function unitOf(metric) {
    return (METRICS[metric] || [metric, 'count'])[1];
  }

  function formatValue(metric, value) {
    switch (unitOf(metric)) {
      case 'duration': return formatDuration(value);
      case 'percent': return formatPercent(value);
      case 'csat': return formatCsat(value);
      default: return formatCount(value);
    }
  }

  function signed(text, value) {
    return value > 0 ? `+${text}` : value < 0 ? `−${text}` : text;
  }

  function formatDifference(metric, difference) {
    const size = Math.abs(difference);
    switch (unitOf(metric)) {
      case 'duration': return signed(formatDuration(size), difference);
      case 'percent': return signed(`${(size * 100).toFixed(1)} pts`, difference);
      case 'csat': return signed(size.toFixed(2), difference);
      default: return signed(integer.format(size), difference);
    }
  }

  // better / worse / same, from the metric's direction (the API's lowerIsBetter); null: no
  // earlier figure to compare with.
  function verdict(difference, lowerIsBetter) {
    if (difference === null || difference === undefined) return null;
    if (difference === 0) return 'same';
    return (difference < 0) === lowerIsBetter ? 'better' : 'worse';
  }

  // The change as an arrow, the figure and the word: colour is never the only sign.
  function changeBadge(metric, difference, relative, lowerIsBetter) {
    const reading = verdict(difference, lowerIsBetter);
    if (reading === null) return h('span', { class: 'change none', text: 'no earlier figure' });
    const arrow = difference > 0 ? '▲' : difference < 0 ? '▼' : '=';
    const parts = [formatDifference(metric, difference)];
    if (relative !== null && relative !== undefined && difference !== 0) {
      parts.push(`(${signed(`${Math.abs(relative * 100).toFixed(1)} %`, relative)})`);
    }
    const word = reading === 'same' ? 'no change' : reading;
    return h('span', { class: `change ${reading}`, 'data-verdict': reading },
      h('span', { class: 'arrow', 'aria-hidden': 'true', text: arrow }), ' ', parts.join(' '), ' ',
      h('span', { class: 'verdict', text: word }));
  }

  // ---- Dates ---------------------------------------------------------------------------------

  function dateIn(timeZone, options) {
    return new Intl.DateTimeFormat('en-GB', Object.assign({ timeZone }, options));
  }

  // The last local day of [start, end), for titles.
  function periodTitle(kind, start, end, timeZone) {
    const first = new Date(start);
    const last = new Date(new Date(end).getTime() - 1);
    if (kind === 'MONTH') return dateIn(timeZone, { month: 'long', year: 'numeric' }).format(first);
    const day = dateIn(timeZone, { day: 'numeric', month: 'short' });
    return `Week of ${day.format(first)} – ${dateIn(timeZone, { day: 'numeric', month: 'short', year: 'numeric' }).format(last)}`;
  }

  function formatInstant(instant, timeZone) {
    return dateIn(timeZone, { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' })
      .format(new Date(instant));
  }

  function bucketLabel(starts, bucket, timeZone) {
    const options = bucket === 'DAY' ? { weekday: 'short', day: 'numeric' } : { day: 'numeric', month: 'short' };
    return dateIn(timeZone, options).format(new Date(starts));
  }

  // A report's trend: days for a week, weeks for a month (src/ui.rs picks the same).
  function bucketFor(kind) {
    return kind === 'MONTH' ? 'WEEK' : 'DAY';
  }

  // The local calendar fields of an instant in a zone.
  function zoned(date, timeZone) {
    const parts = {};
    const format = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
      hour: 'numeric', minute: 'numeric', second: 'numeric', weekday: 'short',
    });
    for (const part of format.formatToParts(date)) parts[part.type] = part.value;
    return {
      year: +parts.year, month: +parts.month, day: +parts.day, hour: +parts.hour % 24,
      minute: +parts.minute, second: +parts.second, weekday: parts.weekday,
    };
  }

  // The instant of local 00:00 of a date in a zone.
  function localMidnight(year, month, day, timeZone) {
    const wall = Date.UTC(year, month - 1, day);
    let guess = wall;
    for (let i = 0; i < 3; i++) {
      const p = zoned(new Date(guess), timeZone);
      const offset = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(guess / 1000) * 1000;
      guess = wall - offset;
    }
    return new Date(guess);
  }

  const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

  // The start of the week (Monday) or month that `now` is in.
  function currentPeriodStart(kind, now, timeZone) {
    const today = zoned(now, timeZone);
    if (kind === 'MONTH') return localMidnight(today.year, today.month, 1, timeZone);
    const back = WEEKDAYS.indexOf(today.weekday);
    const monday = new Date(Date.UTC(today.year, today.month - 1, today.day - Math.max(back, 0)));
    return localMidnight(monday.getUTCFullYear(), monday.getUTCMonth() + 1, monday.getUTCDate(), timeZone);
  }

  // ---- The API -------------------------------------------------------------------------------

  class Unauthenticated extends Error {}

  // One operation of #ui-queries with the fragments it spreads: sent alone, since the server
  // prices (and bounds) every operation a document holds (src/ui.rs cuts it the same way).
  function operation(name) {
    const text = document.getElementById('ui-queries').textContent.replace(/^#.*$/gm, '');
    const definitions = text.split(/\n(?=(?:query|mutation|fragment) )/).map((d) => d.trim()).filter(Boolean);
    const chosen = definitions.find((d) => new RegExp(`^(query|mutation) ${name}\\b`).test(d));
    if (!chosen) throw new Error(`no operation ${name}`);
    const fragments = definitions.filter((d) => d.startsWith('fragment ') && chosen.includes(`...${d.split(/\s+/)[1]}`));
    return [chosen, ...fragments].join('\n\n');
  }

  // One operation over /graphql; resolves to { data, errors }. Without a token in this tab the
  // request carries no Authorization header, so an SSO proxy in front can add its own.
  async function graphql(operationName, variables, query) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch('/graphql', {
      method: 'POST', headers, credentials: 'same-origin', cache: 'no-store', referrerPolicy: 'no-referrer',
      body: JSON.stringify({ query: query || operation(operationName), operationName, variables: variables || {} }),
    });
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    const errors = (body && body.errors) || [];
    if (response.status === 401 || errors.some((e) => e.extensions && e.extensions.code === 'UNAUTHENTICATED')) {
      throw new Unauthenticated(errors.length ? errors[0].message : 'sign in');
    }
    if (!body) throw new Error(`the server answered ${response.status} without a GraphQL answer`);
    return { data: body.data || {}, errors };
  }

  function codeOf(errors) {
    return errors.length && errors[0].extensions ? errors[0].extensions.code : null;
  }

  function firstMessage(errors) {
    return errors.length ? `${errors[0].message} (${codeOf(errors) || 'error'})` : '';
  }

  // ---- Sign-in -------------------------------------------------------------------------------

  // A token handed over in the URL's fragment (#token=...) moves into this tab's storage and out
  // of the address bar and the history; the fragment never reaches a server.
  function takeTokenFromFragment() {
    const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (!match) return;
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }

  function askForToken(reason) {
    return new Promise((resolve) => {
      setState('signin');
      const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
      const form = h('form', { class: 'signin', 'aria-labelledby': 'signin-title' },
        h('h1', { id: 'signin-title', text: 'Sign in' }),
        h('p', { text: 'Paste your deskpulse token (a supervisor’s for the reports). It is kept for this browser tab only and sent to this server alone.' }),
        reason ? notice(reason, 'error') : null,
        h('label', { for: 'token', text: 'Token' }), input,
        h('button', { type: 'submit', text: 'Sign in' }));
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        const token = input.value.trim().replace(/^bearer\s+/i, '');
        if (!token) return;
        sessionStorage.setItem(TOKEN_KEY, token);
        setState('loading');
        show(notice('Signing in…'));
        resolve();
      });
      show(form);
      input.focus();
    });
  }

  // The caller, once signed in: a token of this tab, or the proxy's header.
  async function signIn() {
    takeTokenFromFragment();
    let reason = null;
    for (;;) {
      try {
        const { data, errors } = await graphql('UiMe');
        if (data.me) return data.me;
        reason = firstMessage(errors);
      } catch (error) {
        if (!(error instanceof Unauthenticated)) throw error;
        if (sessionStorage.getItem(TOKEN_KEY)) reason = 'That token was refused: it may have expired or been revoked.';
      }
      sessionStorage.removeItem(TOKEN_KEY);
      await askForToken(reason);
    }
  }

  function showCaller(me) {
    const who = document.getElementById('who');
    const name = me.technician ? me.technician.name : me.subject;
    who.textContent = `${name} · ${me.role.toLowerCase()}`;
    const signOut = document.getElementById('sign-out');
    signOut.hidden = !sessionStorage.getItem(TOKEN_KEY);
    signOut.addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      location.reload();
    });
  }

  // ---- Pieces of a page ----------------------------------------------------------------------

  function section(id, title, ...children) {
    return h('section', { id, 'aria-labelledby': `${id}-title` }, h('h2', { id: `${id}-title`, text: title }), ...children);
  }

  // Metric cards: value, previous, change. `changes` has { metric, current, previous, absolute,
  // relative, lowerIsBetter }; without `previous` a card shows the value alone.
  function summaryCards(changes) {
    const byMetric = new Map(changes.map((change) => [change.metric, change]));
    const cards = SUMMARY.filter((metric) => byMetric.has(metric)).map((metric) => {
      const change = byMetric.get(metric);
      return h('div', { class: 'card', role: 'group', 'aria-label': METRICS[metric][0], 'data-metric': metric, 'data-value': change.current === null ? '' : change.current },
        h('div', { class: 'label', text: METRICS[metric][0] }),
        h('div', { class: 'value', text: formatValue(metric, change.current) }),
        'previous' in change
          ? h('div', { class: 'previous' }, 'before: ', h('span', { class: 'previous-value', text: formatValue(metric, change.previous) }))
          : null,
        'previous' in change ? changeBadge(metric, change.absolute, change.relative, change.lowerIsBetter) : null);
    });
    return h('div', { class: 'cards' }, ...cards);
  }

  // A line chart as inline SVG: one point per bucket and series (an empty bucket's point has no
  // marker and breaks the line). Series differ by marker and dash as well as colour.
  function lineChart(id, title, buckets, series, format) {
    const width = 560, height = 210, left = 64, right = 12, top = 14, bottom = 34;
    const plotWidth = width - left - right, plotHeight = height - top - bottom;
    const values = series.flatMap((line) => line.values).filter((v) => v !== null && v !== undefined);
    const max = scaleTop(values.length ? Math.max(...values) : 0, format);
    const x = (i) => left + (plotWidth * (i + 0.5)) / Math.max(buckets.length, 1);
    const y = (v) => top + plotHeight - (max === 0 ? 0 : (plotHeight * v) / max);
    const titleId = `${id}-chart-title`;
    const chart = s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart-svg', role: 'img', 'aria-labelledby': titleId, 'data-chart': id, 'data-buckets': buckets.length },
      s('title', { id: titleId, text: title }));
    for (let step = 0; step <= 4; step++) {
      const value = (max * step) / 4;
      chart.append(
        s('line', { x1: left, x2: width - right, y1: y(value), y2: y(value), class: step === 0 ? 'axis' : 'grid' }),
        s('text', { x: left - 6, y: y(value) + 4, class: 'tick', 'text-anchor': 'end', text: value === 0 ? '0' : axisLabel(value, format) }));
    }
    const every = Math.ceil(buckets.length / 10);
    buckets.forEach((bucket, i) => {
      if (i % every === 0) chart.append(s('text', { x: x(i), y: height - 12, class: 'tick', 'text-anchor': 'middle', text: bucket.label }));
    });
    series.forEach((line, index) => {
      let path = '';
      let drawing = false;
      line.values.forEach((value, i) => {
        if (value === null || value === undefined) { drawing = false; return; }
        path += `${drawing ? 'L' : 'M'}${x(i).toFixed(1)},${y(value).toFixed(1)} `;
        drawing = true;
      });
      chart.append(s('path', { d: path.trim() || 'M0,0', class: `line series-${index}`, fill: 'none' }));
      line.values.forEach((value, i) => {
        const missing = value === null || value === undefined;
        const point = s('g', { class: 'point', 'data-series': line.key, 'data-bucket': i, 'data-value': missing ? '' : value },
          s('title', { text: `${buckets[i].label}, ${line.label}: ${missing ? 'no data' : format(value)}` }));
        if (!missing) {
          point.append(index % 2 === 0
            ? s('circle', { cx: x(i), cy: y(value), r: 4, class: `marker series-${index}` })
            : s('rect', { x: x(i) - 4, y: y(value) - 4, width: 8, height: 8, class: `marker series-${index}` }));
        }
        chart.append(point);
      });
    });
    const legend = h('ul', { class: 'legend' }, ...series.map((line, index) =>
      h('li', {}, h('span', { class: `swatch series-${index}`, 'aria-hidden': 'true' }), line.label)));
    return h('figure', { class: 'chart', id: `chart-${id}` }, h('figcaption', { text: title }), chart, series.length > 1 ? legend : null);
  }

  // A gridline's label: short enough for the axis (durations as `6 h`, `1 h 30`, `45 min`).
  function axisLabel(value, format) {
    if (format !== formatDuration) return format(value);
    const minutes = Math.round(value / 60);
    if (minutes < 60) return `${minutes} min`;
    const rest = minutes % 60;
    return `${integer.format(Math.floor(minutes / 60))} h${rest ? ` ${String(rest).padStart(2, '0')}` : ''}`;
  }

  // The top of a chart's scale: four gridline steps of a round size in the chart's unit
  // (whole counts; durations in round minutes or hours; CSAT up to 5).
  function scaleTop(value, format) {
    if (format === formatDuration) {
      const steps = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 432000, 864000];
      const step = steps.find((size) => size * 4 >= value) || Math.ceil(value / 4 / 864000) * 864000;
      return step * 4;
    }
    if (format === formatCount) {
      if (value <= 4) return 4;
      const magnitude = Math.pow(10, Math.floor(Math.log10(value / 4)));
      const step = [1, 2, 5, 10].map((m) => m * magnitude).find((size) => size * 4 >= value);
      return step * 4;
    }
    return 5;
  }

  // The four trend charts of a series of KpiSeriesPoint.
  function trendCharts(points, bucket, timeZone) {
    const buckets = points.map((point) => ({ label: bucketLabel(point.starts, bucket, timeZone) }));
    const pick = (get) => points.map((point) => get(point.values));
    return h('div', { class: 'charts' },
      lineChart('volume', 'Volume: tickets opened and resolved', buckets, [
        { key: 'ticketsOpened', label: 'Opened', values: pick((v) => v.ticketsOpened) },
        { key: 'ticketsResolved', label: 'Resolved', values: pick((v) => v.ticketsResolved) },
      ], formatCount),
      lineChart('first-response', 'First response, median', buckets, [
        { key: 'firstResponseMedian', label: 'Median', values: pick((v) => v.firstResponseSeconds.median) },
      ], formatDuration),
      lineChart('resolution', 'Resolution, median', buckets, [
        { key: 'resolutionMedian', label: 'Median', values: pick((v) => v.resolutionSeconds.median) },
      ], formatDuration),
      lineChart('csat', 'CSAT average (1 to 5)', buckets, [
        { key: 'csatAverage', label: 'Average', values: pick((v) => v.csatAverage) },
      ], formatScore));
  }

  // A table with real header cells; `columns` are { key, label, value(row), format(value), numeric }.
  // Sortable ones get a button in their header and report their order in aria-sort.
  function dataTable(id, caption, columns, rows, options) {
    const sortable = options && options.sortable;
    const body = h('tbody');
    const headerCells = columns.map((column) => {
      const th = h('th', { scope: 'col', class: column.numeric ? 'num' : null, 'data-key': column.key });
      if (sortable) {
        th.setAttribute('aria-sort', 'none');
        th.append(h('button', { type: 'button', class: 'sort', text: column.label, onclick: () => sortBy(column, th) }));
      } else {
        th.textContent = column.label;
      }
      return th;
    });
    let order = rows.slice();
    function fill() {
      body.replaceChildren(...order.map((row) => {
        const cells = columns.map((column, index) => {
          const value = column.value(row);
          const content = column.render ? column.render(row) : (column.format || String)(value);
          const attributes = { class: column.numeric ? 'num' : null, 'data-key': column.key, 'data-value': value === null || value === undefined ? '' : value };
          return index === 0 ? h('th', Object.assign({ scope: 'row' }, attributes), content) : h('td', attributes, content);
        });
        return h('tr', { 'data-row': options && options.rowKey ? options.rowKey(row) : null }, ...cells);
      }));
    }
    function sortBy(column, th) {
      const descending = th.getAttribute('aria-sort') !== 'descending';
      for (const other of headerCells) other.setAttribute('aria-sort', 'none');
      th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
      order = rows.slice().sort((a, b) => {
        const va = column.value(a), vb = column.value(b);
        if (va === vb) return 0;
        if (va === null || va === undefined || va === '') return 1; // no data last, either way
        if (vb === null || vb === undefined || vb === '') return -1;
        const compared = typeof va === 'number' && typeof vb === 'number' ? va - vb : String(va).localeCompare(String(vb));
        return descending ? -compared : compared;
      });
      fill();
    }
    fill();
    return h('table', { id, class: 'data' }, h('caption', { text: caption }), h('thead', {}, h('tr', {}, ...headerCells)), body);
  }

  const text = (format) => (value) => format(value);

  function technicianTable(rows) {
    const columns = [
      { key: 'name', label: 'Technician', value: (r) => (r.technicianId ? r.name || `#${r.technicianId}` : 'Unassigned') },
      { key: 'team', label: 'Team', value: (r) => r.team || '' },
      { key: 'ticketsOpened', label: 'Opened', numeric: true, value: (r) => r.values.ticketsOpened, format: formatCount },
      { key: 'ticketsResolved', label: 'Resolved', numeric: true, value: (r) => r.values.ticketsResolved, format: formatCount },
      { key: 'resolutionRate', label: 'Resolution rate', numeric: true, value: (r) => r.values.resolutionRate, format: formatPercent },
      { key: 'firstResponseMedian', label: 'First response (median)', numeric: true, value: (r) => r.values.firstResponseSeconds.median, format: formatDuration },
      { key: 'resolutionMedian', label: 'Resolution (median)', numeric: true, value: (r) => r.values.resolutionSeconds.median, format: formatDuration },
      { key: 'reopenRate', label: 'Reopen rate', numeric: true, value: (r) => r.values.reopenRate, format: formatPercent },
      { key: 'csatAverage', label: 'CSAT', numeric: true, value: (r) => r.values.csatAverage, format: formatCsat },
      { key: 'csatCount', label: 'Ratings', numeric: true, value: (r) => r.values.csatCount, format: formatCount },
    ];
    return dataTable('technicians', 'Per technician (tickets by current assignee); select a column header to sort', columns, rows,
      { sortable: true, rowKey: (r) => r.technicianId || 'unassigned' });
  }

  function categoryTable(categories, lowerIsBetter) {
    return dataTable('categories', 'Categories by tickets opened, against the previous period', [
      { key: 'category', label: 'Category', value: (c) => c.category },
      { key: 'tickets', label: 'Tickets', numeric: true, value: (c) => c.tickets, format: formatCount },
      { key: 'previousTickets', label: 'Before', numeric: true, value: (c) => c.previousTickets, format: formatCount },
      { key: 'change', label: 'Change', numeric: true, value: (c) => c.change,
        render: (c) => changeBadge('TICKETS_OPENED', c.change, c.relativeChange, lowerIsBetter) },
    ], categories);
  }

  function customerTable(customers) {
    return dataTable('customers', 'Customers with the most tickets opened', [
      { key: 'name', label: 'Customer', value: (c) => c.name },
      { key: 'organization', label: 'Organization', value: (c) => c.organization || '' },
      { key: 'tickets', label: 'Tickets', numeric: true, value: (c) => c.tickets, format: formatCount },
    ], customers);
  }

  function outcomeText(action) {
    if (action.status !== 'COMPLETED' || !action.outcome) return action.status === 'ABANDONED' ? 'abandoned' : 'not completed yet';
    const value = formatValue(action.targetMetric, action.outcome.value);
    if (!action.outcome.complete) return `${value} so far (window still running)`;
    return `${value}: target ${action.outcome.targetMet === true ? 'met' : action.outcome.targetMet === false ? 'not met' : 'unknown'}`;
  }

  function actionTable(actions) {
    return dataTable('actions', 'Improvement actions filed from this report, with their outcome', [
      { key: 'title', label: 'Action', value: (a) => a.title },
      { key: 'kind', label: 'Kind', value: (a) => a.kind.toLowerCase() },
      { key: 'status', label: 'Status', value: (a) => a.status.toLowerCase().replace('_', ' ') },
      { key: 'metric', label: 'Metric', value: (a) => (METRICS[a.targetMetric] || [a.targetMetric])[0] },
      { key: 'baseline', label: 'Baseline', numeric: true, value: (a) => a.baselineValue, render: (a) => formatValue(a.targetMetric, a.baselineValue) },
      { key: 'target', label: 'Target', numeric: true, value: (a) => a.targetValue, render: (a) => formatValue(a.targetMetric, a.targetValue) },
      { key: 'outcome', label: 'Outcome', value: (a) => (a.outcome ? a.outcome.value : null), render: outcomeText },
      { key: 'owner', label: 'Owner', value: (a) => a.owner },
      { key: 'due', label: 'Due', value: (a) => a.dueDate || '' },
    ], actions);
  }

  // ---- Pages ---------------------------------------------------------------------------------

  // One stored report, from the answers of UiReport and UiReportTrend (`document.report`,
  // `document.trend`): what the page reads over /graphql and the saved file carries.
  function renderReport(documentData) {
    const report = documentData.report;
    const trend = documentData.trend || {};
    const tz = report.timeZone;
    const bucket = bucketFor(report.kind);
    const opened = report.changes.find((c) => c.metric === 'TICKETS_OPENED');
    const actions = ((trend.improvementActions || {}).edges || []).map((edge) => edge.node);
    const title = periodTitle(report.kind, report.periodStart, report.periodEnd, tz);
    document.title = `${title} · deskpulse report`;
    const meta = [
      `${report.kind === 'WEEK' ? 'Weekly' : 'Monthly'} report in ${tz}`,
      `version ${report.version}`,
      `generated ${formatInstant(report.generatedAt, tz)} by ${report.generatedBy}`,
      `compared with ${periodTitle(report.kind, report.previousStart, report.previousEnd, tz).replace('Week of ', 'the week of ')}`,
    ];
    const points = trend.kpiSeries || [];
    show(
      h('article', { class: 'report', 'data-report': report.id },
        h('header', { class: 'report-head' },
          h('h1', { text: title }),
          h('p', { class: 'meta', text: meta.join(' · ') }),
          report.complete ? null : notice('Generated before the period ended: the figures cover part of it.', 'warning')),
        section('summary', 'Summary', summaryCards(report.changes)),
        section('trend', `Trend by ${bucket === 'DAY' ? 'day' : 'week'}`,
          points.length ? trendCharts(points, bucket, tz) : notice('No trend: the tickets of this period are no longer stored.'),
          h('p', { class: 'footnote', text: 'The trend is measured from the records when the page is drawn; the summary and tables are the report as stored.' })),
        section('per-technician', 'Technicians', technicianTable(report.technicians)),
        h('div', { class: 'two' },
          section('top-categories', 'Top categories', categoryTable(report.topCategories, opened ? opened.lowerIsBetter : true)),
          section('top-customers', 'Top customers', customerTable(report.topCustomers))),
        section('improvement-actions', 'Improvement actions',
          actions.length ? actionTable(actions) : notice('No improvement action names this report as its source.'))));
    setState('ready');
  }

  async function reportPage(id) {
    const first = await graphql('UiReport', { id });
    if (!first.data.report) {
      const forbidden = codeOf(first.errors) === 'FORBIDDEN';
      show(notice(forbidden
        ? 'Stored reports are for supervisors. Your own figures are on the Live page.'
        : first.errors.length ? firstMessage(first.errors) : `There is no report ${id}.`, 'error'),
        forbidden ? h('p', {}, h('a', { href: '/ui/live', text: 'Your figures so far' })) : null);
      setState(forbidden ? 'forbidden' : 'error');
      return;
    }
    const report = first.data.report;
    const second = await graphql('UiReportTrend', {
      id, period: { from: report.periodStart, to: report.periodEnd }, timeZone: report.timeZone, bucket: bucketFor(report.kind),
    });
    renderReport({ report, trend: second.data });
  }

  function lastMonday(now) {
    const date = new Date(Date.UTC(now.getFullYear(), now.getMonth(), now.getDate()));
    const back = (date.getUTCDay() + 6) % 7 + 7;
    date.setUTCDate(date.getUTCDate() - back);
    return date.toISOString().slice(0, 10);
  }

  function browserZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch (_) { return 'UTC'; }
  }

  async function reportsPage(me) {
    if (me.role === 'TECHNICIAN') {
      show(notice('Stored reports are for supervisors. Your own figures are on the Live page.'), h('p', {}, h('a', { href: '/ui/live', text: 'Your figures so far' })));
      setState('forbidden');
      return;
    }
    const { data, errors } = await graphql('UiReports', { first: 100 });
    const reports = ((data.reports || {}).edges || []).map((edge) => edge.node);
    const message = h('div', { id: 'generate-message', 'aria-live': 'polite' });
    const kind = h('select', { id: 'kind', name: 'kind' }, h('option', { value: 'WEEK', text: 'Week' }), h('option', { value: 'MONTH', text: 'Month' }));
    const start = h('input', { id: 'start', name: 'start', type: 'date', required: true, value: lastMonday(new Date()) });
    const zone = h('input', { id: 'zone', name: 'zone', type: 'text', required: true, value: browserZone(), size: 18 });
    const form = h('form', { class: 'generate', 'aria-labelledby': 'generate-title' },
      h('h2', { id: 'generate-title', text: 'Generate a report' }),
      h('label', { for: 'kind', text: 'Period' }), kind,
      h('label', { for: 'start', text: 'Starting (a Monday, or the 1st)' }), start,
      h('label', { for: 'zone', text: 'Time zone' }), zone,
      h('button', { type: 'submit', text: 'Generate' }), message);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      message.replaceChildren(notice('Generating…'));
      try {
        const answer = await graphql('UiGenerateReport', { kind: kind.value, periodStart: start.value, timeZone: zone.value.trim() });
        if (answer.data.generateReport) location.assign(`/ui/reports/${answer.data.generateReport.id}`);
        else message.replaceChildren(notice(firstMessage(answer.errors), 'error'));
      } catch (error) {
        message.replaceChildren(notice(String(error.message || error), 'error'));
      }
    });
    const list = reports.length
      ? dataTable('reports', 'Stored reports, the latest period first', [
        { key: 'period', label: 'Period', value: (r) => r.periodStart,
          render: (r) => h('a', { href: `/ui/reports/${r.id}`, text: periodTitle(r.kind, r.periodStart, r.periodEnd, r.timeZone) }) },
        { key: 'zone', label: 'Time zone', value: (r) => r.timeZone },
        { key: 'version', label: 'Version', numeric: true, value: (r) => r.version, format: formatCount },
        { key: 'generated', label: 'Generated', value: (r) => `${formatInstant(r.generatedAt, r.timeZone)} by ${r.generatedBy}${r.complete ? '' : ' (partial)'}` },
        { key: 'opened', label: 'Opened', numeric: true, value: (r) => r.current.ticketsOpened, format: formatCount },
        { key: 'resolved', label: 'Resolved', numeric: true, value: (r) => r.current.ticketsResolved, format: formatCount },
      ], reports, { rowKey: (r) => r.id })
      : notice(errors.length ? firstMessage(errors) : 'No report has been stored yet.');
    document.title = 'Reports · deskpulse';
    show(h('h1', { text: 'Reports' }), list, form);
    setState('ready');
  }

  // The current week or month so far (?period=month, ?tz=Zone), redrawn every minute.
  async function livePage(me) {
    const params = new URLSearchParams(location.search);
    const kind = params.get('period') === 'month' ? 'MONTH' : 'WEEK';
    const tz = params.get('tz') || browserZone();
    const bucket = bucketFor(kind);
    const now = new Date();
    const from = currentPeriodStart(kind, now, tz);
    const period = { from: from.toISOString(), to: now.toISOString() };
    const heading = `${kind === 'WEEK' ? 'This week' : 'This month'} so far`;
    const switcher = h('p', { class: 'switch no-print' },
      h('a', { href: `/ui/live?period=week&tz=${encodeURIComponent(tz)}`, 'aria-current': kind === 'WEEK' ? 'page' : null, text: 'Week' }), ' · ',
      h('a', { href: `/ui/live?period=month&tz=${encodeURIComponent(tz)}`, 'aria-current': kind === 'MONTH' ? 'page' : null, text: 'Month' }));
    const updated = h('p', { class: 'meta', text: `From ${formatInstant(period.from, tz)} to ${formatInstant(period.to, tz)} (${tz}); refreshes every minute.` });
    let body;
    if (me.role === 'TECHNICIAN') {
      body = await technicianLive(me, period, tz, bucket);
    } else {
      const { data, errors } = await graphql('UiLive', { period, timeZone: tz, bucket });
      if (!data.kpis) throw new Error(firstMessage(errors) || 'no figures');
      body = [
        section('summary', 'Summary, against the same length of time before', summaryCards(data.kpis.changes)),
        section('trend', `Trend by ${bucket === 'DAY' ? 'day' : 'week'}`, trendCharts(data.kpiSeries || [], bucket, tz)),
      ];
    }
    document.title = `${heading} · deskpulse`;
    show(h('article', { class: 'live' }, h('h1', { text: heading }), updated, switcher, ...body));
    setState('ready');
  }

  // A technician's own figures: Technician.performance of the whole period and of each bucket.
  async function technicianLive(me, period, tz, bucket) {
    if (!me.technicianId) return [notice('This token names no technician, so there are no own figures to show.')];
    const edges = [];
    let cursor = new Date(period.from);
    const end = new Date(period.to);
    while (cursor < end && edges.length < 31) {
      const p = zoned(new Date(cursor.getTime() + 12 * 3600 * 1000), tz);
      const next = bucket === 'DAY'
        ? localMidnight(p.year, p.month, p.day + 1, tz)
        : localMidnight(p.year, p.month, p.day + 7 - Math.max(WEEKDAYS.indexOf(p.weekday), 0), tz);
      edges.push({ from: cursor.toISOString(), to: (next < end ? next : end).toISOString() });
      cursor = next;
    }
    const values = 'ticketsOpened ticketsResolved ticketsClosed backlog awaitingFirstResponse firstResponseSeconds { mean median p90 } resolutionSeconds { mean median p90 } resolutionRate reopenRate csatAverage csatCount csatSatisfiedShare interactions { count durationSeconds }';
    const aliases = edges.map((edge, i) => `b${i}: performance(period: { from: "${edge.from}", to: "${edge.to}" }) { values { ${values} } }`).join(' ');
    const query = `query UiOwnLive($period: PeriodInput!) { me { technician { name whole: performance(period: $period) { values { ${values} } } ${aliases} } } }`;
    const { data, errors } = await graphql('UiOwnLive', { period }, query);
    const technician = data.me && data.me.technician;
    if (!technician || !technician.whole) return [notice(firstMessage(errors) || 'No figures.', 'error')];
    const v = technician.whole.values;
    const current = {
      TICKETS_OPENED: v.ticketsOpened, TICKETS_RESOLVED: v.ticketsResolved, TICKETS_CLOSED: v.ticketsClosed, BACKLOG: v.backlog,
      AWAITING_FIRST_RESPONSE: v.awaitingFirstResponse, FIRST_RESPONSE_SECONDS_MEDIAN: v.firstResponseSeconds.median,
      FIRST_RESPONSE_SECONDS_P90: v.firstResponseSeconds.p90, RESOLUTION_SECONDS_MEDIAN: v.resolutionSeconds.median,
      RESOLUTION_SECONDS_P90: v.resolutionSeconds.p90, RESOLUTION_RATE: v.resolutionRate, REOPEN_RATE: v.reopenRate,
      CSAT_AVERAGE: v.csatAverage, CSAT_COUNT: v.csatCount, CSAT_SATISFIED_SHARE: v.csatSatisfiedShare, INTERACTIONS: v.interactions.count,
    };
    const points = edges.map((edge, i) => ({ starts: edge.from, ends: edge.to, values: technician[`b${i}`].values }));
    return [
      section('summary', `Your figures, ${technician.name} (tickets assigned to you now)`,
        summaryCards(Object.entries(current).map(([metric, value]) => ({ metric, current: value })))),
      section('trend', `Trend by ${bucket === 'DAY' ? 'day' : 'week'}`, trendCharts(points, bucket, tz)),
    ];
  }

  // ---- Start ---------------------------------------------------------------------------------

  async function start() {
    const embedded = document.getElementById('report-data');
    if (embedded) {
      document.body.classList.add('offline');
      renderReport(JSON.parse(embedded.textContent));
      return;
    }
    const me = await signIn();
    showCaller(me);
    const path = location.pathname.replace(/\/+$/, '');
    const report = /^\/ui\/reports\/(\d+)$/.exec(path);
    if (report) return reportPage(report[1]);
    if (path === '/ui/live') {
      await livePage(me);
      setInterval(() => livePage(me).catch(failed), LIVE_REFRESH_MS);
      return;
    }
    return reportsPage(me);
  }

  function failed(error) {
    if (error instanceof Unauthenticated) {
      sessionStorage.removeItem(TOKEN_KEY);
      location.reload();
      return;
    }
    show(notice(`The page could not be drawn: ${error && error.message ? error.message : error}`, 'error'));
    setState('error');
  }

  start().catch(failed);
})();
