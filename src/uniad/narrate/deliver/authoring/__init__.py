"""The authoring page: edit an AD track in the browser with the rules in view
(``uniad review``). :mod:`draft` is the track with its on-disk undo history,
:mod:`checks` the verdicts, :mod:`session` one folder under review, :mod:`server` the
local HTTP server; ``page/`` the HTML, script and style it serves."""
