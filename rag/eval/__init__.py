"""The measuring tools: run Q&A sets through the pipeline (evaluate), score them (metrics), pair runs
(compare), tune thresholds from one run (calibrate), time the stages (bench), weigh each rule (ablate),
and run a default LlamaIndex pipeline as a peer baseline (peer). None of them is on a user's path."""
