-- One database per service (state), the Feast offline store + registry, and MLflow's
-- backend store; all owned by the compose user (POSTGRES_USER).
CREATE DATABASE gateway;
CREATE DATABASE ingest;
CREATE DATABASE feature;
CREATE DATABASE trainer_gpu;
CREATE DATABASE registry;
CREATE DATABASE predictor;
CREATE DATABASE monitor;
CREATE DATABASE retrain_trigger;
CREATE DATABASE features;
CREATE DATABASE mlflow;
