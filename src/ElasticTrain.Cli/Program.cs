// elastictrain: the command-line entry point (see CliApp).
return await ElasticTrain.Cli.CliApp.RunAsync(args, Console.Error);
