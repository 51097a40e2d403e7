// Server times are UTC (`2026-11-24T12:00:00Z`); users read them in their own time zone.
function localTime(iso) {
  if (!iso) return '';
  const moment = new Date(iso);
  if (isNaN(moment.getTime())) return iso;
  const pad = (n) => (n < 10 ? '0' + n : '' + n);
  return moment.getFullYear() + '-' + pad(moment.getMonth() + 1) + '-' + pad(moment.getDate()) + ' ' +
    pad(moment.getHours()) + ':' + pad(moment.getMinutes());
}

module.exports = { localTime };
