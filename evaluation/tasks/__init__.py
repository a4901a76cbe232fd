"""One scorer per task: it reads the task's formats and computes its metrics (`scorers.scorer_for`)."""
