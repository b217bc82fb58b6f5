// The tests run real Linux servers (PostgreSQL as an unprivileged user, chromium) and check Unix file modes.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
