using P2V.Cli;
using P2V.Cli.Commands;

// Each command group lives in one file in Commands/ and adds itself here.
var root = CliHost.CreateRoot();
#if !P2V_AGENT_ONLY
ImagingCommands.AddTo(root);
StoreCommands.AddTo(root);
DiskCommands.AddTo(root);
RegistryCommands.AddTo(root);
NetbootCommands.AddTo(root);
MigrationCommands.AddTo(root);
FixupCommands.AddTo(root);
ControllerCommands.AddTo(root);
CleanupCommands.AddTo(root);
#endif
AgentCommands.AddTo(root);

return await CliHost.RunAsync(root, args);
