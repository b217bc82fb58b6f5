using P2V.Cli;
using P2V.Cli.Commands;

var table = new CommandTable();
ImagingCommands.Register(table);
DiskCommands.Register(table);
RegistryCommands.Register(table);
NetbootCommands.Register(table);
MigrationCommands.Register(table);
FixupCommands.Register(table);
AgentCommands.Register(table);

return await CliHost.RunAsync(table, args);
