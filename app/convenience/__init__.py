"""便民服务: the catalogue of services, service points with opening hours, and
bookable slots whose capacity is never exceeded."""
