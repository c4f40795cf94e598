"""Scoring: what is asked (options), the streaming inference over image sets (engine), the score
arithmetic, the run inside a validation (evaluation) and the HTML report's image gallery.

Nothing is imported here: a checks-only run must not load the scoring machinery."""
