"""The supervision picture: regions, entities, priority areas and how infringement changes over time.

Pure pieces here (the region table, the comparison of two rates); the queries over the service store are in
service/store/supervision.py, and the use case that both doors call in service/usecases/supervision.py.
"""
