"""The browser playground's static files (plain JS, no build step), served at ``/`` by
:mod:`openlive.server.playground`."""
