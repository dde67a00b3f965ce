print("fp")
