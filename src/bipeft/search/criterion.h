#pragma once
// How a module's sensitivity is formed from its train and validation records (ALGORITHM.md §6;
// the official code's --prune_criterion, plus gate_effect, ours). Parsed from its name at the edge
// (the CLI, a saved run's options); the library takes the enum.
#include <string>
#include <vector>

namespace bipeft::search {

/// How one step's records become S_i (ALGORITHM.md §6): T = train record, V = validation record,
/// c = mean cosine of the products, n = the parameters that took part (see step_sensitivity). The order is that of
/// criterion_names().
enum class Criterion {
  Train,          // tra: T / n
  Validation,     // val: V / n
  TrainVal,       // tra_val: (T + V) / n
  TrainValCos1,   // tra_val_cos1 (default): T / n + c * V / n
  TrainValCos2,   // tra_val_cos2: c * (T + V) / n
  GateEffect,     // gate_effect (ours): the loss a module saves when on, fitted on the Gumbel samples / n
};

/// The names of the criteria, in the order of the enum: the official code's (tra, val, tra_val,
/// tra_val_cos1, tra_val_cos2) and gate_effect.
const std::vector<std::string>& criterion_names();
/// Parses one of criterion_names(); throws ConfigError naming `field` and the accepted names otherwise.
Criterion parse_criterion(const std::string& name, const std::string& field);
std::string criterion_name(Criterion c);

}  // namespace bipeft::search
