"""placeholder"""
def save(obj, f): raise NotImplementedError
def load(f, map_location=None, weights_only=True): raise NotImplementedError
