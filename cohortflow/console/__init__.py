"""The web console: server-rendered pages for administrators, coordinators, schools and auditors, served by the
API process under ``/console``, every asset shipped in this package."""
