namespace ElasticTrain.Configuration;

/// <summary>
/// A flag, config file or setting that cannot be used. The message is one line meant for the
/// user; the CLI prints it as it is and exits non-zero, before anything is written.
/// </summary>
public class SettingsException(string message) : Exception(message);
