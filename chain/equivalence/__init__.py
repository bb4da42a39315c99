"""Behavioural equivalence: a candidate (a repair, a rewrite, an agent's edit) must return what the original
returned on the inputs the tests gave the functions it changed, not only pass the tests.

targets.py finds the changed functions and instruments the original's copy; recorder.py (shipped into the
sandbox) records their calls while the original's tests run; replayer.py (shipped too) calls the candidate's
functions with the recorded arguments and compares; check.py runs the three in the sandbox and gives the
verdict (chain.protocol.Equivalence).
"""
