-- One database per service (its processed-event ids and state) and one for the Feast
-- offline store and registry. Runs once, when the data volume is first initialised.
CREATE DATABASE gateway;
CREATE DATABASE ingest;
CREATE DATABASE feature;
CREATE DATABASE trainer_gpu;
CREATE DATABASE registry;
CREATE DATABASE predictor;
CREATE DATABASE monitor;
CREATE DATABASE retrain_trigger;
CREATE DATABASE features;
